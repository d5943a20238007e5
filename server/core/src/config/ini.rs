//! A small INI reader that follows Python `configparser`'s default rules, so that
//! upstream `server.conf` / `analyzer.conf` files are read exactly as the Python
//! stack reads them:
//!
//! - `[section]` headers; option lines `key = value` or `key: value` (first delimiter wins);
//! - option names are case-insensitive (stored lowercased), section names are not;
//! - full-line comments start with `#` or `;`; inline comments are *not* stripped;
//! - indented lines continue the previous value (joined with `\n`);
//! - values and names are trimmed; `[DEFAULT]` options are visible in every section;
//! - a duplicate section or option, or an option before any section, is an error.
//!
//! This module only builds the section/key map; typed validation is [`super`]'s job.

use std::collections::BTreeMap;

/// A parsed INI document: section name → (lowercased option → value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ini {
    sections: BTreeMap<String, BTreeMap<String, String>>,
    defaults: BTreeMap<String, String>,
}

/// A syntax error, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct IniError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl Ini {
    /// Parses INI text.
    pub fn parse(text: &str) -> Result<Ini, IniError> {
        let mut ini = Ini::default();
        let mut current: Option<String> = None;
        let mut last_key: Option<String> = None;
        for (idx, raw) in text.lines().enumerate() {
            let line = idx + 1;
            let err = |reason: String| IniError { line, reason };
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                // configparser ends a multi-line value at an empty line (empty_lines_in_values keeps
                // them, but a continuation must be indented and non-empty to matter here).
                continue;
            }
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                continue;
            }
            let indented = raw.starts_with(' ') || raw.starts_with('\t');
            if indented {
                if let (Some(sec), Some(key)) = (&current, &last_key) {
                    let map = ini.section_mut(sec);
                    if let Some(v) = map.get_mut(key) {
                        if !v.is_empty() {
                            v.push('\n');
                        }
                        v.push_str(trimmed);
                        continue;
                    }
                }
            }
            if let Some(rest) = trimmed.strip_prefix('[') {
                let name = rest
                    .strip_suffix(']')
                    .ok_or_else(|| err(format!("unterminated section header {trimmed:?}")))?;
                if name != "DEFAULT" && ini.sections.contains_key(name) {
                    return Err(err(format!("section [{name}] appears twice")));
                }
                if name != "DEFAULT" {
                    ini.sections.insert(name.to_string(), BTreeMap::new());
                }
                current = Some(name.to_string());
                last_key = None;
                continue;
            }
            let Some(sec) = current.clone() else {
                return Err(err(format!(
                    "option {trimmed:?} appears before any [section]"
                )));
            };
            let pos = trimmed
                .find(['=', ':'])
                .ok_or_else(|| err(format!("expected `key = value`, found {trimmed:?}")))?;
            let key = trimmed[..pos].trim().to_lowercase();
            let value = trimmed[pos + 1..].trim().to_string();
            if key.is_empty() {
                return Err(err("empty option name".into()));
            }
            let map = ini.section_mut(&sec);
            if map.contains_key(&key) {
                return Err(err(format!("option {key:?} appears twice in [{sec}]")));
            }
            map.insert(key.clone(), value);
            last_key = Some(key);
        }
        Ok(ini)
    }

    fn section_mut(&mut self, name: &str) -> &mut BTreeMap<String, String> {
        if name == "DEFAULT" {
            &mut self.defaults
        } else {
            self.sections.entry(name.to_string()).or_default()
        }
    }

    /// The value of `key` in `section` (falling back to `[DEFAULT]`).
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        let key = key.to_lowercase();
        self.sections
            .get(section)
            .and_then(|s| s.get(&key))
            .or_else(|| self.sections.get(section).and(self.defaults.get(&key)))
            .map(String::as_str)
    }

    /// Whether the section exists.
    pub fn has_section(&self, section: &str) -> bool {
        self.sections.contains_key(section)
    }

    /// Section names in file order is not kept; they come sorted.
    pub fn sections(&self) -> impl Iterator<Item = &str> {
        self.sections.keys().map(String::as_str)
    }

    /// The options of one section (without defaults), sorted.
    pub fn options(&self, section: &str) -> impl Iterator<Item = (&str, &str)> {
        self.sections
            .get(section)
            .into_iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// Python `configparser` boolean words: `1 yes true on` / `0 no false off`, any case.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value.to_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_configparser_rules() {
        let ini = Ini::parse(
            "# comment\n[global]\nMy-UUID = abc\nd4-server: 127.0.0.1:6380\nlist = a\n  b\n; c\n[x]\nk=v # not a comment\n",
        )
        .unwrap();
        assert_eq!(ini.get("global", "my-uuid"), Some("abc"));
        assert_eq!(ini.get("global", "D4-SERVER"), Some("127.0.0.1:6380"));
        assert_eq!(ini.get("global", "list"), Some("a\nb"));
        assert_eq!(ini.get("x", "k"), Some("v # not a comment"));
        assert_eq!(ini.get("missing", "k"), None);
    }

    #[test]
    fn defaults_apply_to_existing_sections() {
        let ini = Ini::parse("[DEFAULT]\nport = 1\n[a]\n").unwrap();
        assert_eq!(ini.get("a", "port"), Some("1"));
        assert_eq!(ini.get("b", "port"), None);
    }

    #[test]
    fn rejects_malformed_files_with_line_numbers() {
        assert_eq!(Ini::parse("k = v\n").unwrap_err().line, 1);
        assert_eq!(Ini::parse("[a]\nnovalue\n").unwrap_err().line, 2);
        assert_eq!(Ini::parse("[a]\nk=1\nk=2\n").unwrap_err().line, 3);
        assert_eq!(Ini::parse("[a]\n[a]\n").unwrap_err().line, 2);
        assert!(Ini::parse("[a\n").is_err());
    }

    #[test]
    fn crlf_files_are_read() {
        let ini = Ini::parse("[a]\r\nk = v\r\n").unwrap();
        assert_eq!(ini.get("a", "k"), Some("v"));
    }

    #[test]
    fn bool_words() {
        assert_eq!(parse_bool("Yes"), Some(true));
        assert_eq!(parse_bool("off"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
    }
}

//! The `filewatcher` and `filewatcherjson` extended-type modules (upstream
//! `meta_types_modules/filewatcher*`, spec §4.3): a file watcher (d4-goclient with
//! `source` = `folder`) sends each new file of a folder as one `\n`-terminated element,
//! base64-encoded (`filewatcher`) or as is (`filewatcherjson`, its `-json` mode). Each
//! element is saved as a file and the file's path is queued, so analyzers such as
//! d4-pretensor pop a path and read the file.
//!
//! | module | file |
//! |---|---|
//! | `filewatcher` | `<data>/<uuid>/254/YYYY/MM/DD/filewatcher/files/<sha256 of the decoded bytes>[.<extension>][.gz]` (`segregate` false: `<data>/datas/filewatcher/files/…`) |
//! | `filewatcherjson` | `<data>/<uuid>/254/YYYY/MM/DD/filewatcherjson/files/<sha256>.json` |
//!
//! The date is the local date of saving. Options come from the meta header, with
//! Python's truth rules as upstream: `compress` (default false: gzip the file and queue
//! the `.gz` path), `extension` (default none), `segregate` (default true: by sensor and
//! date). Upstream named files `<sha256>.` when no extension was given (spec §9 item 24);
//! here the name is then the bare hash.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use base64::Engine;
use chrono::{DateTime, Local};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::files::{save_element, Naming};

/// Longest `extension` accepted.
const MAX_EXTENSION: usize = 64;

/// The `filewatcher` options of a meta header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileOptions {
    /// Gzip each file (`<name>.gz` is queued).
    pub(crate) compress: bool,
    /// File name suffix after the hash (without the dot); empty for none.
    pub(crate) extension: String,
    /// Save under the sensor and date (`<data>/<uuid>/254/YYYY/MM/DD/…`) rather than in
    /// `<data>/datas/…`.
    pub(crate) segregate: bool,
}

/// A meta header option that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum OptionError {
    /// `extension` is not a string.
    #[error("`extension` must be a string, not {0}")]
    ExtensionType(String),
    /// `extension` would not stay a suffix of one file name.
    #[error("`extension` {0:?} is not a file name suffix")]
    Extension(String),
}

/// Why an element was not saved.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FileError {
    /// A `filewatcher` element that is not base64.
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// Writing failed.
    #[error("cannot save: {0}")]
    Io(#[from] std::io::Error),
}

impl FileOptions {
    /// The options of a `filewatcher` meta header (defaults for absent members).
    pub(crate) fn from_header(header: &Value) -> Result<FileOptions, OptionError> {
        let extension = match header.get("extension") {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(OptionError::ExtensionType(other.to_string())),
        };
        // Sent by the sensor, used in a path: one name suffix, nothing more.
        let bad = |c: char| c == '/' || c == '\\' || c.is_control();
        if extension.len() > MAX_EXTENSION || extension.contains(bad) {
            return Err(OptionError::Extension(extension));
        }
        Ok(FileOptions {
            compress: header.get("compress").is_some_and(truthy),
            extension,
            segregate: header.get("segregate").is_none_or(truthy),
        })
    }
}

/// Python's truth value of a JSON value (`if value:` upstream).
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// `filewatcher`: decodes one element and saves it; returns the path to queue.
pub(crate) fn save_file(
    data: &Path,
    sensor: &str,
    opts: &FileOptions,
    element: &[u8],
    now: DateTime<Local>,
) -> Result<PathBuf, FileError> {
    let bytes = decode_base64(element)?;
    let dir = if opts.segregate {
        files_dir(data, sensor, "filewatcher", now)
    } else {
        data.join("datas").join("filewatcher").join("files")
    };
    let mut name = hex::encode(Sha256::digest(&bytes));
    if !opts.extension.is_empty() {
        name = format!("{name}.{}", opts.extension);
    }
    Ok(save_element(&dir, &name, &bytes, opts.compress)?)
}

/// `filewatcherjson`: saves one element as is; returns the path to queue.
pub(crate) fn save_json(
    data: &Path,
    sensor: &str,
    element: &[u8],
    now: DateTime<Local>,
) -> Result<PathBuf, FileError> {
    let dir = files_dir(data, sensor, "filewatcherjson", now);
    let name = format!("{}.json", hex::encode(Sha256::digest(element)));
    Ok(save_element(&dir, &name, element, false)?)
}

/// `<data>/<sensor>/254/YYYY/MM/DD/<module>/files`, the layout of the session's other
/// 254 files.
fn files_dir(data: &Path, sensor: &str, module: &str, now: DateTime<Local>) -> PathBuf {
    let naming = Naming {
        base: data.join(sensor).join("254"),
        sub: Some(module.to_string()),
        uuid: sensor.to_string(),
        suffix: String::new(),
    };
    naming.dir(now).join("files")
}

/// Decodes standard base64. The Go file watcher encodes each 3072-byte read of a file
/// on its own, so a short read puts padding inside the element: every padded group ends
/// one independently encoded piece. (Upstream's Python decoder stopped at the first
/// padding and saved a truncated file.)
fn decode_base64(element: &[u8]) -> Result<Vec<u8>, base64::DecodeError> {
    let engine = &base64::engine::general_purpose::STANDARD;
    let mut out = Vec::with_capacity(element.len() / 4 * 3);
    let mut rest = element;
    while !rest.is_empty() {
        // The piece ends with the 4-character group holding its first `=`.
        let end = rest
            .iter()
            .position(|b| *b == b'=')
            .map_or(rest.len(), |i| (i / 4 + 1) * 4)
            .min(rest.len());
        let (piece, tail) = rest.split_at(end);
        engine.decode_vec(piece, &mut out)?;
        rest = tail;
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn header(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn options_default_and_follow_python_truth() {
        let d = FileOptions::from_header(&header(r#"{"type": "filewatcher"}"#)).unwrap();
        assert_eq!(
            d,
            FileOptions {
                compress: false,
                extension: String::new(),
                segregate: true
            }
        );
        let o = FileOptions::from_header(&header(
            r#"{"compress": 1, "extension": "pcap", "segregate": ""}"#,
        ))
        .unwrap();
        assert!(o.compress && !o.segregate);
        assert_eq!(o.extension, "pcap");
        // "false" is a non-empty string: true in Python.
        let s = FileOptions::from_header(&header(r#"{"compress": "false"}"#)).unwrap();
        assert!(s.compress);
        assert_eq!(
            FileOptions::from_header(&header(r#"{"extension": "../x"}"#)),
            Err(OptionError::Extension("../x".into()))
        );
        assert!(FileOptions::from_header(&header(r#"{"extension": 5}"#)).is_err());
    }

    #[test]
    fn base64_pieces_padded_inside_decode_whole() {
        let e = base64::engine::general_purpose::STANDARD;
        let (a, b) = (b"first piece, 16b".as_slice(), b"second".as_slice());
        assert_eq!(decode_base64(e.encode(a).as_bytes()).unwrap(), a);
        let joined = format!("{}{}", e.encode(&a[..13]), e.encode(b));
        let mut want = a[..13].to_vec();
        want.extend_from_slice(b);
        assert_eq!(decode_base64(joined.as_bytes()).unwrap(), want);
        assert!(decode_base64(b"@@@@").is_err());
        assert!(decode_base64(b"abc").is_err());
        assert_eq!(decode_base64(b"").unwrap(), b"");
    }

    #[test]
    fn files_are_named_by_hash_under_the_sensor_and_date() {
        let dir = tempfile::tempdir().unwrap();
        let now = chrono::TimeZone::with_ymd_and_hms(&Local, 2024, 3, 9, 1, 2, 3).unwrap();
        let content = b"{\"request\": 1}";
        let b64 = base64::engine::general_purpose::STANDARD.encode(content);
        let sha = hex::encode(Sha256::digest(content));
        let mut opts = FileOptions::from_header(&header("{}")).unwrap();
        let p = save_file(dir.path(), "u1", &opts, b64.as_bytes(), now).unwrap();
        let day = dir.path().join("u1/254/2024/03/09");
        assert_eq!(p, day.join("filewatcher/files").join(&sha));
        assert_eq!(std::fs::read(&p).unwrap(), content);
        opts.extension = "json".into();
        opts.compress = true;
        opts.segregate = false;
        let p = save_file(dir.path(), "u1", &opts, b64.as_bytes(), now).unwrap();
        let want = format!("datas/filewatcher/files/{sha}.json.gz");
        assert_eq!(p, dir.path().join(want));
        let p = save_json(dir.path(), "u1", content, now).unwrap();
        let want = format!("filewatcherjson/files/{sha}.json");
        assert_eq!(p, day.join(want));
        assert_eq!(std::fs::read(&p).unwrap(), content);
        assert!(save_file(dir.path(), "u1", &opts, b"!!", now).is_err());
    }
}

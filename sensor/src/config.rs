//! The goclient configuration directory (`-c DIR`): one small file per setting
//! (spec `clients.md` §2), read into a validated [`ClientConfig`].
//!
//! Reading follows the Go client where other programs observe the result, and fixes
//! its traps (documented in `docs/compatibility.md`, "Sensor"):
//!
//! - every file: trailing `\n` / `\r\n` stripped (all of them, not just one, so a `uuid`
//!   file ending in `\n\n` no longer forces a new uuid at every start);
//! - `key`: raw bytes, at most the first 100 bytes as goclient reads them (the HMAC the
//!   server checks must not change when an operator swaps clients);
//! - `uuid`: canonical, upper-case, `{...}`, `urn:uuid:` or 32-hex; empty, missing or
//!   unparsable → a fresh v4 is generated and written back (truncating the file); a
//!   parsable non-v4 uuid is an error, because the D4 server rejects it;
//! - `snaplen`: missing/empty/`0` → 4096; non-numeric or above the server's 1 000 000
//!   payload limit → error;
//! - `version`: missing/unparsable/`0` → 1, above 255 → 255 (as goclient);
//! - `type`: required, 1..=255; `source` and `destination` required and checked here
//!   rather than panicking later.
//!
//! Missing files are not created (goclient creates them empty); only `uuid` is written.

use std::path::{Path, PathBuf};

use d4_core::config::RedisEndpoint;
use d4_proto::{self as proto, DataType};

/// Default payload size per packet when `snaplen` is missing, empty or 0.
pub const DEFAULT_SNAPLEN: usize = 4096;
/// The key is read in one 100-byte read by goclient; longer keys are cut there.
pub const MAX_KEY_BYTES: usize = 100;

/// A problem with one file of the configuration directory.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The directory itself is unusable.
    #[error("config directory {dir}: {reason}")]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file exists but cannot be read (or the uuid cannot be written back).
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file's content is not acceptable.
    #[error("{path}: {value:?}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Its (trimmed) content.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A required file is missing or empty.
    #[error("{path}: missing or empty ({what})")]
    Missing {
        /// The file.
        path: PathBuf,
        /// What it should contain.
        what: &'static str,
    },
}

/// Where the data comes from (`source` file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Standard input.
    Stdin,
    /// A regular file whose path is in the `file` setting (read once).
    File(PathBuf),
    /// New files appearing in the directory named by the `folder` setting.
    Folder(PathBuf),
    /// An analyzer queue of another D4 server: `redis_d4` (`host:port/db`) and `redis_queue`.
    D4Server {
        /// Host, port and database of that server's Redis.
        redis: RedisEndpoint,
        /// List key popped with LPOP.
        queue: String,
    },
    /// goclient's undocumented `pcap` source: `./capture.pcap`, read once.
    Pcap,
}

/// Where the packets go (`destination` file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// The D4 stream on standard output.
    Stdout,
    /// A D4 server: `host:port` or `[v6]:port`.
    Net {
        /// Host name or address, without brackets (used as the TLS server name).
        host: String,
        /// TCP port.
        port: u16,
    },
}

/// The validated configuration directory.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The directory it was read from.
    pub dir: PathBuf,
    /// HMAC key bytes.
    pub key: Vec<u8>,
    /// Sensor uuid (raw RFC 4122 bytes).
    pub uuid: [u8; 16],
    /// True when the uuid was generated (and written back) during this load.
    pub uuid_generated: bool,
    /// Maximum payload bytes per packet.
    pub snaplen: usize,
    /// Header version byte.
    pub version: u8,
    /// Configured data type.
    pub data_type: DataType,
    /// Data source.
    pub source: Source,
    /// Destination.
    pub destination: Destination,
    /// Raw bytes of `metaheader.json` (types 2 and 254 only).
    pub metaheader: Option<Vec<u8>>,
    /// Problems that were tolerated (logged by the binary).
    pub warnings: Vec<String>,
}

/// Strips every trailing `\n` and `\r`.
fn trim_eol(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = b {
        b = rest;
    }
    b
}

/// Reads one setting file: `Ok(None)` if it does not exist.
fn read_raw(path: &Path) -> Result<Option<Vec<u8>>, ConfigError> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Reads one setting as trimmed text (missing file → empty string).
fn read_text(path: &Path) -> Result<String, ConfigError> {
    let raw = read_raw(path)?.unwrap_or_default();
    let text = String::from_utf8_lossy(trim_eol(&raw)).into_owned();
    Ok(text)
}

fn invalid(path: &Path, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: path.to_path_buf(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Parses the uuid spellings goclient (gofrs `FromString`) accepts.
pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let s = s.trim();
    let s = s.strip_prefix("urn:uuid:").unwrap_or(s);
    let s = s
        .strip_prefix('{')
        .and_then(|x| x.strip_suffix('}'))
        .unwrap_or(s);
    let hex: String = match s.len() {
        36 => {
            let dashes = [8, 13, 18, 23];
            if !dashes.iter().all(|&i| s.as_bytes().get(i) == Some(&b'-')) {
                return None;
            }
            s.chars().filter(|c| *c != '-').collect()
        }
        32 => s.to_string(),
        _ => return None,
    };
    let mut out = [0u8; 16];
    hex::decode_to_slice(hex, &mut out).ok()?;
    Some(out)
}

/// Canonical lowercase text of a uuid.
pub fn format_uuid(u: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*u).hyphenated().to_string()
}

/// Loads the uuid, generating and writing back a v4 when there is none usable.
fn load_uuid(path: &Path, warnings: &mut Vec<String>) -> Result<([u8; 16], bool), ConfigError> {
    let text = read_text(path)?;
    if let Some(u) = parse_uuid(&text) {
        if !proto::is_valid_uuid_v4(&u) {
            return Err(invalid(
                path,
                &text,
                "not a version-4 uuid (the D4 server accepts only v4)",
            ));
        }
        return Ok((u, false));
    }
    if !text.is_empty() {
        warnings.push(format!(
            "{}: {text:?} is not a uuid; generating a new one",
            path.display()
        ));
    }
    let fresh = *uuid::Uuid::new_v4().as_bytes();
    std::fs::write(path, format!("{}\n", format_uuid(&fresh))).map_err(|source| {
        ConfigError::Io {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok((fresh, true))
}

/// The sensor identity of a configuration directory, for `--print-uuid` (d4-core#34:
/// register and approve a sensor before it ever connects).
#[derive(Debug, Clone)]
pub struct SensorUuid {
    /// The uuid (raw RFC 4122 bytes).
    pub uuid: [u8; 16],
    /// True when it was generated and written to `DIR/uuid` now.
    pub generated: bool,
    /// Problems that were tolerated (an unparsable old uuid).
    pub warnings: Vec<String>,
}

/// Reads `DIR/uuid`, generating and writing it as a first start would when missing or
/// unusable; an existing valid uuid is kept. Only that file is read, so a directory
/// whose other settings are not written yet works.
pub fn ensure_uuid(dir: &Path) -> Result<SensorUuid, ConfigError> {
    if !dir.is_dir() {
        return Err(ConfigError::Dir {
            dir: dir.to_path_buf(),
            reason: "not a directory".into(),
        });
    }
    let mut warnings = Vec::new();
    let (uuid, generated) = load_uuid(&dir.join("uuid"), &mut warnings)?;
    Ok(SensorUuid {
        uuid,
        generated,
        warnings,
    })
}

fn load_snaplen(path: &Path, warnings: &mut Vec<String>) -> Result<usize, ConfigError> {
    let text = read_text(path)?;
    if text.is_empty() {
        warnings.push(format!(
            "{}: missing or empty, using {DEFAULT_SNAPLEN}",
            path.display()
        ));
        return Ok(DEFAULT_SNAPLEN);
    }
    let n: u64 = text
        .parse()
        .map_err(|_| invalid(path, &text, "not a non-negative integer"))?;
    match n {
        0 => Ok(DEFAULT_SNAPLEN),
        n if n > u64::from(proto::MAX_PAYLOAD_SIZE) => Err(invalid(
            path,
            &text,
            format!(
                "larger than the D4 server's payload limit of {}",
                proto::MAX_PAYLOAD_SIZE
            ),
        )),
        n => Ok(n as usize),
    }
}

fn load_version(path: &Path) -> Result<u8, ConfigError> {
    let text = read_text(path)?;
    Ok(match text.parse::<u64>() {
        Ok(0) | Err(_) => 1,
        Ok(n) => u8::try_from(n).unwrap_or(u8::MAX),
    })
}

fn load_type(path: &Path) -> Result<DataType, ConfigError> {
    let text = read_text(path)?;
    if text.is_empty() {
        return Err(ConfigError::Missing {
            path: path.to_path_buf(),
            what: "D4 data type, 1..255",
        });
    }
    match text.parse::<u8>() {
        Ok(n) if n > 0 => Ok(DataType(n)),
        _ => Err(invalid(path, &text, "Unsupported type (expected 1..255)")),
    }
}

/// Parses `host:port` or `[v6]:port` (goclient `IsNet`); `None` if it is not one.
pub fn parse_net(s: &str) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        h.parse::<std::net::Ipv6Addr>().ok()?;
        (h, p)
    } else {
        let (h, p) = s.rsplit_once(':')?;
        if h.is_empty() || h.contains(':') {
            return None;
        }
        (h, p)
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host.to_string(), port.parse().ok()?))
}

fn load_destination(path: &Path) -> Result<Destination, ConfigError> {
    let text = read_text(path)?;
    if text.is_empty() {
        return Err(ConfigError::Missing {
            path: path.to_path_buf(),
            what: "stdout, host:port or [v6]:port",
        });
    }
    if text == "stdout" {
        return Ok(Destination::Stdout);
    }
    match parse_net(&text) {
        Some((host, port)) => Ok(Destination::Net { host, port }),
        None => Err(invalid(
            path,
            &text,
            "Unsupported Destination (expected stdout, host:port or [v6]:port)",
        )),
    }
}

fn required_path(dir: &Path, name: &str, what: &'static str) -> Result<PathBuf, ConfigError> {
    let path = dir.join(name);
    let text = read_text(&path)?;
    if text.is_empty() {
        return Err(ConfigError::Missing { path, what });
    }
    Ok(PathBuf::from(text))
}

fn load_source(dir: &Path) -> Result<Source, ConfigError> {
    let path = dir.join("source");
    let text = read_text(&path)?;
    match text.as_str() {
        "" => Err(ConfigError::Missing {
            path,
            what: "stdin, file, folder, d4server or pcap",
        }),
        "stdin" => Ok(Source::Stdin),
        "pcap" => Ok(Source::Pcap),
        "file" => Ok(Source::File(required_path(
            dir,
            "file",
            "path of the file to send",
        )?)),
        "folder" => {
            let folder = required_path(dir, "folder", "directory to watch")?;
            if !folder.is_dir() {
                return Err(invalid(
                    &dir.join("folder"),
                    &folder.to_string_lossy(),
                    "not a directory",
                ));
            }
            Ok(Source::Folder(folder))
        }
        "d4server" => load_d4server(dir),
        other => Err(invalid(
            &path,
            other,
            "Unsupported source (expected stdin, file, folder, d4server or pcap)",
        )),
    }
}

fn load_d4server(dir: &Path) -> Result<Source, ConfigError> {
    let rpath = dir.join("redis_d4");
    let text = read_text(&rpath)?;
    if text.is_empty() {
        return Err(ConfigError::Missing {
            path: rpath,
            what: "host:port/db of the D4 server's Redis",
        });
    }
    let (hostport, db) = text.rsplit_once('/').unwrap_or((text.as_str(), "0"));
    let (host, port) =
        parse_net(hostport).ok_or_else(|| invalid(&rpath, &text, "expected host:port/db"))?;
    let db: u8 = db
        .parse()
        .map_err(|_| invalid(&rpath, &text, "database is not a number"))?;
    let qpath = dir.join("redis_queue");
    let queue = read_text(&qpath)?;
    if queue.is_empty() {
        return Err(ConfigError::Missing {
            path: qpath,
            what: "analyzer queue key, e.g. analyzer:8:<uuid>",
        });
    }
    let redis = RedisEndpoint::single(host, port, db);
    Ok(Source::D4Server { redis, queue })
}

/// Reads `metaheader.json`: must be a JSON object with a string `type`. Raw bytes are kept.
fn load_metaheader(dir: &Path) -> Result<Vec<u8>, ConfigError> {
    let path = dir.join("metaheader.json");
    let raw = read_raw(&path)?.ok_or(ConfigError::Missing {
        path: path.clone(),
        what: "JSON meta header for types 2/254",
    })?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let value: serde_json::Value = serde_json::from_slice(&raw)
        .map_err(|e| invalid(&path, &text, format!("not JSON: {e}")))?;
    match value.get("type") {
        Some(serde_json::Value::String(_)) if value.is_object() => Ok(raw),
        _ => Err(invalid(
            &path,
            &text,
            "must be a JSON object with a string 'type' field",
        )),
    }
}

fn load_key(path: &Path, warnings: &mut Vec<String>) -> Result<Vec<u8>, ConfigError> {
    let raw = read_raw(path)?.unwrap_or_default();
    if raw.len() > MAX_KEY_BYTES && trim_eol(&raw).len() > MAX_KEY_BYTES {
        warnings.push(format!(
            "{}: key longer than {MAX_KEY_BYTES} bytes; only the first {MAX_KEY_BYTES} are used, as goclient does",
            path.display()
        ));
    }
    let head = raw.get(..MAX_KEY_BYTES).unwrap_or(&raw);
    if raw.is_empty() {
        warnings.push(format!("{}: missing or empty key", path.display()));
    }
    Ok(trim_eol(head).to_vec())
}

impl ClientConfig {
    /// Reads and validates the configuration directory.
    pub fn load(dir: &Path) -> Result<ClientConfig, ConfigError> {
        if !dir.is_dir() {
            return Err(ConfigError::Dir {
                dir: dir.to_path_buf(),
                reason: "not a directory".into(),
            });
        }
        let mut warnings = Vec::new();
        let key = load_key(&dir.join("key"), &mut warnings)?;
        let data_type = load_type(&dir.join("type"))?;
        let snaplen = load_snaplen(&dir.join("snaplen"), &mut warnings)?;
        let version = load_version(&dir.join("version"))?;
        let source = load_source(dir)?;
        let destination = load_destination(&dir.join("destination"))?;
        let metaheader = match data_type {
            DataType::META_HEADER | DataType::EXTENDED => Some(load_metaheader(dir)?),
            _ => None,
        };
        let (uuid, uuid_generated) = load_uuid(&dir.join("uuid"), &mut warnings)?;
        Ok(ClientConfig {
            dir: dir.to_path_buf(),
            key,
            uuid,
            uuid_generated,
            snaplen,
            version,
            data_type,
            source,
            destination,
            metaheader,
            warnings,
        })
    }

    /// The type byte of data packets: 254 after a meta header, else the configured type.
    pub fn data_packet_type(&self) -> DataType {
        if self.metaheader.is_some() {
            DataType::EXTENDED
        } else {
            self.data_type
        }
    }

    /// The CA file for `-cc`: `DIR/rootCA.crt`, or goclient's `DIRrootCA.crt` (its
    /// missing-separator bug) when only that one exists.
    pub fn root_ca_path(&self) -> PathBuf {
        let joined = self.dir.join("rootCA.crt");
        if joined.exists() {
            return joined;
        }
        let mut glued = self.dir.as_os_str().to_os_string();
        glued.push("rootCA.crt");
        let glued = PathBuf::from(glued);
        if glued.exists() {
            glued
        } else {
            joined
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "ff7ba400-e76c-4053-982d-feec42bdef38";

    /// A valid directory; `edit` then changes files (None = remove).
    fn dir_with(edit: &[(&str, Option<&[u8]>)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let base: &[(&str, &[u8])] = &[
            ("key", b"private key to change\n"),
            ("uuid", b"ff7ba400-e76c-4053-982d-feec42bdef38\n"),
            ("snaplen", b"4096\n"),
            ("type", b"8\n"),
            ("version", b"1\n"),
            ("source", b"stdin\n"),
            ("destination", b"127.0.0.1:4443\n"),
        ];
        for (name, content) in base {
            std::fs::write(d.path().join(name), content).unwrap();
        }
        for (name, content) in edit {
            match content {
                Some(c) => std::fs::write(d.path().join(name), c).unwrap(),
                None => std::fs::remove_file(d.path().join(name)).unwrap(),
            }
        }
        d
    }

    fn load(
        edit: &[(&str, Option<&[u8]>)],
    ) -> (tempfile::TempDir, Result<ClientConfig, ConfigError>) {
        let d = dir_with(edit);
        let r = ClientConfig::load(d.path());
        (d, r)
    }

    fn err_text(edit: &[(&str, Option<&[u8]>)]) -> String {
        load(edit).1.unwrap_err().to_string()
    }

    #[test]
    fn sample_directory_loads() {
        let (_d, c) = load(&[]);
        let c = c.unwrap();
        assert_eq!(c.key, b"private key to change");
        assert_eq!(format_uuid(&c.uuid), UUID);
        assert!(!c.uuid_generated);
        assert_eq!((c.snaplen, c.version, c.data_type), (4096, 1, DataType(8)));
        assert_eq!(c.source, Source::Stdin);
        assert_eq!(
            c.destination,
            Destination::Net {
                host: "127.0.0.1".into(),
                port: 4443
            }
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn trailing_newlines_and_crlf_are_stripped() {
        let (_d, c) = load(&[
            ("key", Some(b"k1\r\n")),
            ("uuid", Some(b"FF7BA400-E76C-4053-982D-FEEC42BDEF38\n\n")),
            ("type", Some(b"8\r\n")),
        ]);
        let c = c.unwrap();
        assert_eq!(c.key, b"k1");
        assert_eq!(format_uuid(&c.uuid), UUID);
        assert!(
            !c.uuid_generated,
            "uuid followed by two newlines must not be regenerated"
        );
        let (_d, c) = load(&[("key", Some(b"no newline")), ("snaplen", Some(b"100"))]);
        let c = c.unwrap();
        assert_eq!((c.key.as_slice(), c.snaplen), (&b"no newline"[..], 100));
    }

    #[test]
    fn key_is_cut_at_100_bytes_like_goclient() {
        let long = vec![b'k'; 150];
        let (_d, c) = load(&[("key", Some(&long))]);
        let c = c.unwrap();
        assert_eq!(c.key.len(), 100);
        assert_eq!(c.warnings.len(), 1);
    }

    #[test]
    fn uuid_spellings_goclient_accepts() {
        for s in [
            UUID,
            "{ff7ba400-e76c-4053-982d-feec42bdef38}",
            "urn:uuid:ff7ba400-e76c-4053-982d-feec42bdef38",
            "ff7ba400e76c4053982dfeec42bdef38",
        ] {
            assert_eq!(
                parse_uuid(s).map(|u| format_uuid(&u)).as_deref(),
                Some(UUID),
                "{s}"
            );
        }
        for s in [
            "",
            "ff7ba400",
            "ff7ba400-e76c-4053-982d-feec42bdef3g",
            "ff7ba400-e76c-4053-982dfeec42bdef38-",
        ] {
            assert_eq!(parse_uuid(s), None, "{s}");
        }
    }

    #[test]
    fn missing_or_garbage_uuid_is_generated_and_written_back() {
        for edit in [
            None,
            Some(&b""[..]),
            Some(&b"not-a-uuid-at-all-but-quite-a-long-old-content\n"[..]),
        ] {
            let (d, c) = load(&[("uuid", edit)]);
            let c = c.unwrap();
            assert!(c.uuid_generated);
            assert!(proto::is_valid_uuid_v4(&c.uuid));
            let file = std::fs::read_to_string(d.path().join("uuid")).unwrap();
            // Written as canonical lowercase + newline, the old content fully replaced.
            assert_eq!(file, format!("{}\n", format_uuid(&c.uuid)));
            let again = ClientConfig::load(d.path()).unwrap();
            assert_eq!(again.uuid, c.uuid);
            assert!(!again.uuid_generated);
        }
    }

    #[test]
    fn non_v4_uuid_is_a_clear_error() {
        let e = err_text(&[("uuid", Some(b"ff7ba400-e76c-1053-982d-feec42bdef38"))]);
        assert!(e.contains("uuid") && e.contains("version-4"), "{e}");
    }

    #[test]
    fn snaplen_edge_cases() {
        for (content, want) in [
            (None, 4096),
            (Some(&b""[..]), 4096),
            (Some(&b"\n"[..]), 4096),
            (Some(&b"0"[..]), 4096),
            (Some(&b"70000\n"[..]), 70000),
        ] {
            let (_d, c) = load(&[("snaplen", content)]);
            assert_eq!(c.unwrap().snaplen, want, "{content:?}");
        }
        assert!(err_text(&[("snaplen", Some(b"abc"))]).contains("snaplen"));
        assert!(err_text(&[("snaplen", Some(b"-5"))]).contains("snaplen"));
        assert!(err_text(&[("snaplen", Some(b"1000001"))]).contains("payload limit"));
    }

    #[test]
    fn version_is_lenient_like_goclient() {
        for (content, want) in [
            (None, 1),
            (Some(&b"0"[..]), 1),
            (Some(&b"x"[..]), 1),
            (Some(&b"300"[..]), 255),
            (Some(&b"2"[..]), 2),
        ] {
            let (_d, c) = load(&[("version", content)]);
            assert_eq!(c.unwrap().version, want);
        }
    }

    #[test]
    fn each_bad_file_is_named_in_the_error() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("type", None),
            ("type", Some(b"0")),
            ("type", Some(b"300")),
            ("type", Some(b"pcap")),
            ("source", None),
            ("source", Some(b"socket")),
            ("destination", None),
            ("destination", Some(b"127.0.0.1")),
            ("destination", Some(b"::1:4443")),
            ("destination", Some(b"host:port")),
        ];
        for (file, content) in cases {
            let e = err_text(&[(file, *content)]);
            assert!(
                e.contains(file),
                "error for {file}={content:?} does not name it: {e}"
            );
        }
    }

    #[test]
    fn destinations() {
        assert_eq!(parse_net("[::1]:4443"), Some(("::1".into(), 4443)));
        assert_eq!(
            parse_net("localhost:4443"),
            Some(("localhost".into(), 4443))
        );
        assert_eq!(
            parse_net("d4.example.org:1"),
            Some(("d4.example.org".into(), 1))
        );
        assert_eq!(parse_net("[::1]"), None);
        assert_eq!(parse_net("1.2.3.4:"), None);
        let (_d, c) = load(&[("destination", Some(b"stdout\n"))]);
        assert_eq!(c.unwrap().destination, Destination::Stdout);
    }

    #[test]
    fn metaheader_rules() {
        let ok: &[u8] = b"{\n  \"type\": \"ja3-jl\"\n}\n";
        let (_d, c) = load(&[("type", Some(b"254")), ("metaheader.json", Some(ok))]);
        let c = c.unwrap();
        assert_eq!(c.metaheader.as_deref(), Some(ok), "raw bytes are kept");
        assert_eq!(c.data_packet_type(), DataType(254));
        let (_d, c) = load(&[("type", Some(b"2")), ("metaheader.json", Some(ok))]);
        assert_eq!(
            c.unwrap().data_packet_type(),
            DataType(254),
            "type 2 sends data as 254"
        );
        for bad in [
            &b"[1]"[..],
            b"{\"type\": 3}",
            b"{\"x\": \"y\"}",
            b"not json",
        ] {
            let e = err_text(&[("type", Some(b"254")), ("metaheader.json", Some(bad))]);
            assert!(e.contains("metaheader.json"), "{e}");
        }
        assert!(err_text(&[("type", Some(b"254"))]).contains("metaheader.json"));
    }

    #[test]
    fn d4server_source() {
        let (_d, c) = load(&[
            ("source", Some(b"d4server")),
            ("redis_d4", Some(b"localhost:6385/2\n")),
            ("redis_queue", Some(b"analyzer:3:abc\n")),
        ]);
        assert_eq!(
            c.unwrap().source,
            Source::D4Server {
                redis: RedisEndpoint::single("localhost", 6385, 2),
                queue: "analyzer:3:abc".into()
            }
        );
        assert!(err_text(&[("source", Some(b"d4server"))]).contains("redis_d4"));
    }

    /// The shipped `conf/sensor.sample` loads (on a copy: the uuid is written back).
    #[test]
    fn shipped_sample_directory_loads() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/sensor.sample");
        let d = tempfile::tempdir().unwrap();
        for e in std::fs::read_dir(&src).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), d.path().join(e.file_name())).unwrap();
        }
        let c = ClientConfig::load(d.path()).unwrap();
        assert!(c.uuid_generated);
        assert_eq!(c.data_type, DataType::PASSIVEDNS);
        assert_eq!(
            c.destination,
            Destination::Net {
                host: "127.0.0.1".into(),
                port: 4443
            }
        );
    }

    #[test]
    fn bad_config_does_not_touch_uuid() {
        let (d, r) = load(&[("uuid", None), ("type", None)]);
        assert!(r.is_err());
        assert!(!d.path().join("uuid").exists());
    }
}

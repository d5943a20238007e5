//! The `ja3-jl` extended-type handler (upstream `meta_types_modules/ja3-jl`).
//!
//! Each line is a JSON object from sensor-d4-tls-fingerprinting. For every entry of its
//! `Certificates` array, the base64 `Raw` DER is saved as
//! `<data>/datas/ja3-jl/certs/<sha1 hex>.crt`; the line itself is saved as
//! `<data>/datas/ja3-jl/jsons/<Timestamp>.json`, and that path is what the `ja3-jl`
//! queues receive. Lines that are not JSON, or lack `Timestamp`, are skipped and
//! counted (upstream crashed the worker on a missing key).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use base64::Engine;
use sha1::{Digest, Sha1};

use super::files::save_element;

/// Why a line could not be handled.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Ja3Error {
    /// Not a JSON object.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// No usable `Timestamp` member.
    #[error("no Timestamp")]
    NoTimestamp,
    /// Writing failed.
    #[error("cannot save: {0}")]
    Io(#[from] std::io::Error),
}

/// Saves one ja3-jl line and its certificates; returns the JSON file path.
pub(crate) fn save(data: &Path, line: &[u8]) -> Result<PathBuf, Ja3Error> {
    let v: serde_json::Value = serde_json::from_slice(line)?;
    let ts = match v.get("Timestamp") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => return Err(Ja3Error::NoTimestamp),
    };
    // The timestamp becomes a file name: keep it to one path component.
    if ts.is_empty() || ts.contains('/') || ts == "." || ts == ".." {
        return Err(Ja3Error::NoTimestamp);
    }
    let base = data.join("datas").join("ja3-jl");
    let certs = v
        .get("Certificates")
        .and_then(|c| c.as_array())
        .cloned()
        .unwrap_or_default();
    for c in certs {
        let Some(raw) = c.get("Raw").and_then(|r| r.as_str()) else {
            continue;
        };
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(raw) else {
            continue;
        };
        let name = format!("{}.crt", hex::encode(Sha1::digest(&der)));
        save_element(&base.join("certs"), &name, &der, false)?;
    }
    Ok(save_element(
        &base.join("jsons"),
        &format!("{ts}.json"),
        line,
        false,
    )?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn saves_certificates_and_json() {
        let dir = tempfile::tempdir().unwrap();
        let der = b"\x30\x03\x02\x01\x01";
        let raw = base64::engine::general_purpose::STANDARD.encode(der);
        let line =
            format!(r#"{{"Timestamp": "1703350733", "Certificates": [{{"Raw": "{raw}"}}]}}"#);
        let p = save(dir.path(), line.as_bytes()).unwrap();
        assert_eq!(p, dir.path().join("datas/ja3-jl/jsons/1703350733.json"));
        assert_eq!(std::fs::read(&p).unwrap(), line.as_bytes());
        let crt = dir
            .path()
            .join("datas/ja3-jl/certs")
            .join(format!("{}.crt", hex::encode(Sha1::digest(der))));
        assert_eq!(std::fs::read(crt).unwrap(), der);
        assert!(matches!(
            save(dir.path(), b"{}"),
            Err(Ja3Error::NoTimestamp)
        ));
        assert!(matches!(
            save(dir.path(), br#"{"Timestamp": "../x"}"#),
            Err(Ja3Error::NoTimestamp)
        ));
        assert!(save(dir.path(), b"nope").is_err());
    }
}

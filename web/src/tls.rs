//! rustls server configuration from PEM files (`tls_cert_file`, `tls_key_file`).
//! TLS 1.2 is allowed for compatibility with upstream clients; 1.3 is allowed too.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A certificate or key problem, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file could not be read or parsed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the pair.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

fn file_err(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Loads the chain and key into a rustls server config (HTTP/1.1 only).
pub fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let mut rd = std::io::BufReader::new(std::fs::File::open(cert).map_err(|e| file_err(cert, e))?);
    let chain: Vec<_> = rustls_pemfile::certs(&mut rd)
        .collect::<Result<_, _>>()
        .map_err(|e| file_err(cert, e))?;
    if chain.is_empty() {
        return Err(file_err(cert, "no certificate found"));
    }
    let mut rd = std::io::BufReader::new(std::fs::File::open(key).map_err(|e| file_err(key, e))?);
    let key_der = rustls_pemfile::private_key(&mut rd)
        .map_err(|e| file_err(key, e))?
        .ok_or_else(|| file_err(key, "no private key found"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

//! TLS for the ingest server: the certificate chain and key of `[D4_Server]
//! tls_cert_file` / `tls_key_file` (PEM), rustls with ring, TLS 1.2 and 1.3, no client
//! certificate (as upstream's Twisted defaults), no TLS 1.3 session tickets.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No certificate in the certificate file.
    #[error("no certificate found in {0}")]
    NoCert(PathBuf),
    /// No private key in the key file.
    #[error("no private key found in {0}")]
    NoKey(PathBuf),
    /// rustls refused the pair.
    #[error("invalid certificate/key: {0}")]
    Rustls(#[from] rustls::Error),
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads the PEM certificate chain and private key into a rustls server config.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let cert_pem = read(cert)?;
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCert(cert.to_path_buf()));
    }
    let key_pem = read(key)?;
    let key_der: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .ok()
        .flatten()
        .ok_or_else(|| TlsError::NoKey(key.to_path_buf()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)?;
    // The server must never send application-level bytes: sensors never read, and
    // unread TLS 1.3 session tickets in a sensor's receive buffer turn its close into a
    // TCP reset, which makes this side discard the sensor's last unread data.
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

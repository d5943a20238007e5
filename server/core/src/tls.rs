//! The one TLS loader of the servers (`d4-server` on 4443, `d4-web` on 7000): the
//! certificate chain and key of `[D4_Server] tls_cert_file` / `tls_key_file` (PEM),
//! rustls with ring, TLS 1.2 and 1.3, no client certificate (as upstream's Twisted and
//! Flask defaults). Each server adds its own settings (session tickets, ALPN).

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
pub fn server_config(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
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
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)?;
    Ok(config)
}

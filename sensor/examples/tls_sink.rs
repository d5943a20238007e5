//! A TLS D4 sink for `bench/sensor/run.sh`: `tls_sink CERT KEY PORT` accepts
//! connections, decodes D4 packets (shared codec), and prints per connection the
//! packets and bytes received. It closes after the client's close_notify.

use std::sync::Arc;

use d4_proto::{decode, Decoded, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (cert, key, port) = (&args[1], &args[2], &args[3]);
    let chain = rustls_pemfile::certs(&mut std::fs::read(cert)?.as_slice())
        .collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut std::fs::read(key)?.as_slice())?
        .ok_or_else(|| anyhow::anyhow!("no key"))?;
    let conf = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(conf));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>()?)).await?;
    eprintln!("tls_sink listening on {}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let Ok(mut s) = acceptor.accept(tcp).await else {
                return;
            };
            let (mut buf, mut chunk) = (Vec::new(), vec![0u8; 256 * 1024]);
            let (mut packets, mut bytes) = (0u64, 0u64);
            loop {
                let n = match s.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                bytes += n as u64;
                buf.extend_from_slice(&chunk[..n]);
                let mut used = 0;
                while let Ok(Decoded::Packet(p)) = decode(&buf[used..], &Limits::default()) {
                    used += p.raw.len();
                    packets += 1;
                }
                buf.drain(..used);
            }
            let _ = s.shutdown().await;
            println!("connection closed: packets={packets} bytes={bytes}");
        });
    }
}

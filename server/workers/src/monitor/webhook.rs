//! Webhook sink: one JSON `POST` per event over plain HTTP/1.1 (no client crate in the
//! workspace; an HTTPS endpoint is reached through a local relay).

use std::time::Duration;

use d4_core::config::monitoring::WebhookUrl;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a webhook delivery failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WebhookError {
    /// Connecting, writing or reading failed.
    #[error("{url}: {error}")]
    Io {
        /// The webhook.
        url: String,
        /// The socket error.
        error: std::io::Error,
    },
    /// The receiver answered something other than 2xx.
    #[error("{url}: answered {status:?}")]
    Status {
        /// The webhook.
        url: String,
        /// Its status line.
        status: String,
    },
}

/// Posts `body` (JSON) to `hook`, waiting at most `timeout` for the whole exchange.
pub(crate) async fn post(
    hook: &WebhookUrl,
    body: &str,
    timeout: Duration,
) -> Result<(), WebhookError> {
    let io = |error| WebhookError::Io {
        url: hook.url.clone(),
        error,
    };
    let status = tokio::time::timeout(timeout, exchange(hook, body))
        .await
        .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
        .map_err(io)?;
    let code = status.split(' ').nth(1).unwrap_or_default();
    if code.len() == 3 && code.starts_with('2') {
        Ok(())
    } else {
        Err(WebhookError::Status {
            url: hook.url.clone(),
            status,
        })
    }
}

/// Sends the request and returns the response's status line.
async fn exchange(hook: &WebhookUrl, body: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect((hook.host.as_str(), hook.port)).await?;
    let host = if hook.host.contains(':') {
        format!("[{}]:{}", hook.host, hook.port)
    } else {
        format!("{}:{}", hook.host, hook.port)
    };
    let req = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: d4-workers\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        hook.path,
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    // The status line is all we need; stop at its end (or after 8 KiB of nonsense).
    while !head.contains(&b'\n') && head.len() < 8192 {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    Ok(String::from_utf8_lossy(line).trim().to_string())
}

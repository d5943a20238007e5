//! A minimal RFC 6455 websocket client for `pdns-import --websocket ws://host:port/path`: the
//! upgrade handshake, then text/binary messages (fragments joined), answering pings and closes.
//! Plain `ws://` only. Each message is one COF JSON object, as `pdns-import-cof.py` reads it.

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Largest accepted message.
pub const MAX_MESSAGE: usize = 16 << 20;

/// Websocket errors.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// The URL is not `ws://host[:port][/path]`.
    #[error("unsupported websocket URL {0:?} (expected ws://host[:port][/path])")]
    Url(String),
    /// Socket error.
    #[error("websocket I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The server did not switch protocols.
    #[error("websocket handshake refused: {0}")]
    Handshake(String),
    /// A frame broke the protocol or the size limit.
    #[error("websocket protocol error: {0}")]
    Protocol(&'static str),
}

/// A connected websocket.
pub struct WsClient {
    stream: BufReader<TcpStream>,
}

/// Splits `ws://host[:port][/path]` into (`host:port`, host, path).
pub fn parse_url(url: &str) -> Result<(String, String, String), WsError> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| WsError::Url(url.into()))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(WsError::Url(url.into()));
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        && !authority.ends_with(']');
    let addr = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((addr, authority.to_string(), path.to_string()))
}

impl WsClient {
    /// Connects and performs the upgrade handshake.
    pub async fn connect(url: &str) -> Result<WsClient, WsError> {
        let (addr, host, path) = parse_url(url)?;
        let mut tcp = TcpStream::connect(addr.as_str()).await?;
        let key = nonce_key();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(req.as_bytes()).await?;
        let mut stream = BufReader::new(tcp);
        let head = read_head(&mut stream).await?;
        let status = head.lines().next().unwrap_or_default();
        if status.split_whitespace().nth(1) != Some("101") {
            return Err(WsError::Handshake(status.to_string()));
        }
        Ok(WsClient { stream })
    }

    /// The next text or binary message; `None` when the server closes.
    pub async fn next_message(&mut self) -> Result<Option<Vec<u8>>, WsError> {
        let mut msg = Vec::new();
        loop {
            let (fin, opcode, payload) = self.read_frame().await?;
            match opcode {
                0x0..=0x2 => {
                    if msg.len() + payload.len() > MAX_MESSAGE {
                        return Err(WsError::Protocol("message too large"));
                    }
                    msg.extend_from_slice(&payload);
                    if fin {
                        return Ok(Some(msg));
                    }
                }
                0x8 => {
                    let _ = self.send(0x8, &payload).await;
                    return Ok(None);
                }
                0x9 => self.send(0xA, &payload).await?,
                0xA => {}
                _ => return Err(WsError::Protocol("unknown opcode")),
            }
        }
    }

    async fn read_frame(&mut self) -> Result<(bool, u8, Vec<u8>), WsError> {
        let mut h = [0u8; 2];
        self.stream.read_exact(&mut h).await?;
        let (fin, opcode, masked) = (h[0] & 0x80 != 0, h[0] & 0x0f, h[1] & 0x80 != 0);
        let len = match h[1] & 0x7f {
            126 => u64::from(self.stream.read_u16().await?),
            127 => self.stream.read_u64().await?,
            n => u64::from(n),
        };
        if len > MAX_MESSAGE as u64 {
            return Err(WsError::Protocol("frame too large"));
        }
        let mut mask = [0u8; 4];
        if masked {
            self.stream.read_exact(&mut mask).await?;
        }
        let mut payload = vec![0u8; len as usize];
        self.stream.read_exact(&mut payload).await?;
        if masked {
            payload
                .iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b ^= mask[i % 4]);
        }
        Ok((fin, opcode, payload))
    }

    /// Sends one masked control/data frame (clients must mask).
    async fn send(&mut self, opcode: u8, payload: &[u8]) -> Result<(), WsError> {
        let payload = &payload[..payload.len().min(125)];
        let mask = nonce_bytes();
        let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask[..4]);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.get_mut().write_all(&frame).await?;
        Ok(())
    }
}

async fn read_head(s: &mut BufReader<TcpStream>) -> Result<String, WsError> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 << 10 {
            return Err(WsError::Protocol("handshake response too large"));
        }
        head.push(s.read_u8().await?);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// 16 unpredictable-enough bytes (the key is a nonce, not a secret).
fn nonce_bytes() -> [u8; 16] {
    use std::hash::{BuildHasher, Hasher};
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        chunk.copy_from_slice(&h.finish().to_le_bytes());
    }
    out
}

fn nonce_key() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(nonce_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("ws://crh.circl.lu:8888").ok(),
            Some((
                "crh.circl.lu:8888".into(),
                "crh.circl.lu:8888".into(),
                "/".into()
            ))
        );
        assert_eq!(
            parse_url("ws://example.org/feed?x=1")
                .map(|u| (u.0, u.2))
                .ok(),
            Some(("example.org:80".into(), "/feed?x=1".into()))
        );
        assert!(parse_url("wss://example.org").is_err());
        assert!(parse_url("ws:///x").is_err());
    }
}

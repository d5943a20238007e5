//! COF messages from a websocket stream (`pdns-import --websocket ws://host:port/path`), as
//! `pdns-import-cof.py` reads them: each text or binary message is one COF JSON object.
//!
//! The protocol (upgrade handshake, fragmented messages, pings, the close handshake) is
//! `tokio-tungstenite`'s; this module only checks the URL, caps message sizes and hands out
//! the payloads. Plain `ws://` only, as before.

use futures_util::StreamExt as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Largest accepted message (and frame).
const MAX_MESSAGE: usize = 16 << 20;

/// Websocket errors.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WsError {
    /// The URL is not `ws://host[:port][/path]`.
    #[error("unsupported websocket URL {0:?} (expected ws://host[:port][/path])")]
    Url(String),
    /// Socket, handshake or protocol error.
    #[error("websocket: {0}")]
    Ws(#[from] tungstenite::Error),
}

/// The upgrade request of a `ws://host[:port][/path]` URL.
fn request(url: &str) -> Result<Request, WsError> {
    let bad = || WsError::Url(url.into());
    if !url.starts_with("ws://") {
        return Err(bad());
    }
    url.into_client_request().map_err(|_| bad())
}

/// A connected websocket.
pub(crate) struct WsClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl WsClient {
    /// Connects and performs the upgrade handshake.
    pub(crate) async fn connect(url: &str) -> Result<WsClient, WsError> {
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(request(url)?, Some(config), false)
                .await?;
        Ok(WsClient { ws })
    }

    /// The next text or binary message; `None` once the server closed the stream (after
    /// the close reply went out). Pings are answered by the protocol layer.
    pub(crate) async fn next_message(&mut self) -> Result<Option<Vec<u8>>, WsError> {
        loop {
            match self.ws.next().await {
                None
                | Some(Err(
                    tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed,
                )) => return Ok(None),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Text(t))) => return Ok(Some(t.as_bytes().to_vec())),
                Some(Ok(Message::Binary(b))) => return Ok(Some(b.to_vec())),
                // Close: keep reading, which sends the close reply and then ends the stream.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_))) => {}
                Some(Ok(Message::Frame(_))) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let r = request("ws://crh.circl.lu:8888").expect("url");
        assert_eq!(
            (r.uri().host(), r.uri().port_u16(), r.uri().path()),
            (Some("crh.circl.lu"), Some(8888), "/")
        );
        assert_eq!(
            r.headers().get("host").and_then(|h| h.to_str().ok()),
            Some("crh.circl.lu:8888")
        );
        let r = request("ws://example.org/feed?x=1").expect("url");
        assert_eq!(
            (
                r.uri().host(),
                r.uri().port_u16(),
                r.uri().path_and_query().map(|p| p.as_str())
            ),
            (Some("example.org"), None, Some("/feed?x=1"))
        );
        assert!(request("wss://example.org").is_err());
        assert!(request("ws:///x").is_err());
    }
}

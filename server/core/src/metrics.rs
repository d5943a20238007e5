//! Prometheus metrics of the daemons: the text rendering of a registry and the small
//! HTTP listener that serves it on `GET /metrics`.
//!
//! Each daemon builds one [`Registry`] (prefixed by its name, e.g. `d4_server`), registers
//! its counters, gauges and histograms, and, given `--metrics ADDR:PORT`, starts [`spawn`].
//! The body is the OpenMetrics text of `prometheus-client`, served with its content type,
//! which Prometheus scrapes natively; a counter `x` shows as `# TYPE x counter` and the
//! sample `x_total`.
//!
//! The listener is a plain HTTP/1.1 responder (one request per connection, then close): a
//! scrape needs nothing more, and it keeps the daemons free of an HTTP framework. A peer
//! gets [`REQUEST_TIMEOUT`] to send its request head of at most [`MAX_HEAD`] bytes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

pub use prometheus_client;

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The path served.
pub const PATH: &str = "/metrics";

/// How long a scraper may take to send its request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest request head read; a longer one is refused (431).
pub const MAX_HEAD: usize = 8 * 1024;

/// The OpenMetrics text of `registry` (ends with `# EOF`).
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; a collector's error leaves what was written.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

/// Binds `addr` and serves `registry` on it until `stop` (see the module docs). A bind
/// failure is an error naming the address, so a daemon given a busy port does not start.
pub async fn spawn(
    addr: SocketAddr,
    registry: Arc<Registry>,
    stop: CancellationToken,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics listener {addr}"))?;
    let local = listener.local_addr().context("metrics listener address")?;
    info!(%local, "Metrics on http://{local}{PATH}.");
    Ok(tokio::spawn(serve(listener, registry, stop)))
}

/// Accepts scrapers on `listener` until `stop`; each connection is answered in its own task.
pub async fn serve(listener: TcpListener, registry: Arc<Registry>, stop: CancellationToken) {
    loop {
        let (tcp, peer) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    debug!(error = %e, "Metrics accept failed.");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let registry = registry.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(tcp, &registry).await {
                debug!(%peer, error = %e, "Metrics request failed.");
            }
        });
    }
}

/// Reads one request head and writes the response, then closes.
async fn answer(mut tcp: TcpStream, registry: &Registry) -> std::io::Result<()> {
    let head = tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut tcp))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "request head"))??;
    let (status, body) = match head {
        Some(line) => route(&line, registry),
        None => ("431 Request Header Fields Too Large", String::new()),
    };
    let content_type = if status.starts_with("200") {
        CONTENT_TYPE
    } else {
        "text/plain; charset=utf-8"
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(response.as_bytes()).await?;
    tcp.shutdown().await
}

/// The request line of a head ending in an empty line, or `None` past [`MAX_HEAD`].
async fn read_head(tcp: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(512);
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]);
            return Ok(Some(head.lines().next().unwrap_or("").to_owned()));
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
        if tcp.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// Status line and body for a request line: `GET /metrics` (any query string) is served,
/// another path is 404, another method 405.
fn route(request_line: &str, registry: &Registry) -> (&'static str, String) {
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", PATH) => ("200 OK", render(registry)),
        (_, PATH) => ("405 Method Not Allowed", "GET only\n".to_owned()),
        _ => (
            "404 Not Found",
            format!("not found; metrics are at {PATH}\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;

    fn registry_with_counter() -> (Registry, Counter) {
        let mut r = Registry::with_prefix("d4_test");
        let c = Counter::default();
        r.register("things", "Things seen", c.clone());
        (r, c)
    }

    #[test]
    fn counters_render_as_counters_with_the_prefix() {
        let (r, c) = registry_with_counter();
        c.inc_by(3);
        let text = render(&r);
        assert!(text.contains("# TYPE d4_test_things counter"), "{text}");
        assert!(text.contains("d4_test_things_total 3"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn only_get_metrics_is_served() {
        let (r, _) = registry_with_counter();
        assert_eq!(route("GET /metrics HTTP/1.1", &r).0, "200 OK");
        assert_eq!(route("GET /metrics?x=1 HTTP/1.1", &r).0, "200 OK");
        assert!(route("POST /metrics HTTP/1.1", &r).0.starts_with("405"));
        assert!(route("GET / HTTP/1.1", &r).0.starts_with("404"));
        assert!(route("", &r).0.starts_with("404"));
    }

    /// One scrape through the listener.
    async fn scrape(addr: SocketAddr, request: &[u8]) -> String {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(request).await.unwrap();
        let mut out = String::new();
        tcp.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn the_listener_answers_a_scrape_and_stops() {
        let (r, c) = registry_with_counter();
        c.inc();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, Arc::new(r), stop.clone()));
        let ok = scrape(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(ok.contains(CONTENT_TYPE), "{ok}");
        assert!(ok.contains("d4_test_things_total 1"), "{ok}");
        let other = scrape(addr, b"GET /other HTTP/1.1\r\n\r\n").await;
        assert!(other.starts_with("HTTP/1.1 404"), "{other}");
        stop.cancel();
        task.await.unwrap();
    }
}

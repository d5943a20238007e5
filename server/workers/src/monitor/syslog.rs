//! Syslog sink: one RFC 5424 message per event on the local syslog datagram socket
//! (`/dev/log` by default), facility daemon.

use tokio::net::UnixDatagram;

/// Facility `daemon` (3) times 8, plus the severity.
const FACILITY_DAEMON: u8 = 3 << 3;
/// Severity of problems.
const WARNING: u8 = 4;
/// Severity of recoveries.
const NOTICE: u8 = 5;

/// Sends `text` to the syslog socket at `path`.
pub(crate) async fn send(
    path: &str,
    hostname: &str,
    problem: bool,
    text: &str,
) -> std::io::Result<()> {
    let pri = FACILITY_DAEMON + if problem { WARNING } else { NOTICE };
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let msg = format!(
        "<{pri}>1 {ts} {hostname} d4-workers {} - - {text}",
        std::process::id()
    );
    let sock = UnixDatagram::unbound()?;
    sock.send_to(msg.as_bytes(), path).await?;
    Ok(())
}

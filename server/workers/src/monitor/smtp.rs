//! Mail sink: a minimal SMTP client for a local relay (plain SMTP, no authentication, as
//! a local MTA accepts from localhost): `EHLO`, `MAIL FROM`, `RCPT TO`, `DATA`, `QUIT`.

use std::time::Duration;

use d4_core::config::monitoring::SmtpSettings;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Why a mail could not be handed to the relay.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SmtpError {
    /// Connecting, writing or reading failed.
    #[error("SMTP relay {relay}: {error}")]
    Io {
        /// `host:port`.
        relay: String,
        /// The socket error.
        error: std::io::Error,
    },
    /// The relay refused a step.
    #[error("SMTP relay {relay} refused {step}: {reply:?}")]
    Refused {
        /// `host:port`.
        relay: String,
        /// The command refused.
        step: String,
        /// The relay's reply.
        reply: String,
    },
}

/// One step's failure before the relay's name is attached.
enum Fail {
    Io(std::io::Error),
    Refused(String, String),
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Fail::Io(e)
    }
}

/// Sends one mail with `subject` and `body` to every recipient of `cfg`.
pub(crate) async fn send(
    cfg: &SmtpSettings,
    hostname: &str,
    subject: &str,
    body: &str,
    timeout: Duration,
) -> Result<(), SmtpError> {
    let relay = format!("{}:{}", cfg.host, cfg.port);
    let run = session(cfg, hostname, subject, body);
    match tokio::time::timeout(timeout, run).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(Fail::Io(error))) => Err(SmtpError::Io { relay, error }),
        Ok(Err(Fail::Refused(step, reply))) => Err(SmtpError::Refused { relay, step, reply }),
        Err(_) => Err(SmtpError::Io {
            relay,
            error: std::io::ErrorKind::TimedOut.into(),
        }),
    }
}

/// The SMTP dialogue.
async fn session(
    cfg: &SmtpSettings,
    hostname: &str,
    subject: &str,
    body: &str,
) -> Result<(), Fail> {
    let mut s = BufReader::new(TcpStream::connect((cfg.host.as_str(), cfg.port)).await?);
    expect(&mut s, "greeting", '2').await?;
    command(&mut s, &format!("EHLO {hostname}"), '2').await?;
    command(&mut s, &format!("MAIL FROM:<{}>", cfg.from), '2').await?;
    for to in &cfg.to {
        command(&mut s, &format!("RCPT TO:<{to}>"), '2').await?;
    }
    command(&mut s, "DATA", '3').await?;
    let msg = message(cfg, subject, body);
    s.get_mut().write_all(msg.as_bytes()).await?;
    command(&mut s, ".", '2').await?;
    // The mail is accepted; a relay that drops the connection before QUIT's reply is fine.
    let _ = command(&mut s, "QUIT", '2').await;
    Ok(())
}

/// The message: headers, then the body with CRLF line ends and leading dots doubled.
fn message(cfg: &SmtpSettings, subject: &str, body: &str) -> String {
    let subject: String = subject.chars().filter(|c| !c.is_control()).collect();
    let mut m = format!(
        "From: {}\r\nTo: {}\r\nSubject: {subject}\r\nDate: {}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n",
        cfg.from,
        cfg.to.join(", "),
        chrono::Local::now().to_rfc2822()
    );
    for line in body.lines() {
        if line.starts_with('.') {
            m.push('.');
        }
        m.push_str(line);
        m.push_str("\r\n");
    }
    m
}

/// Writes one command line and checks the reply's first digit.
async fn command(s: &mut BufReader<TcpStream>, line: &str, ok: char) -> Result<(), Fail> {
    s.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await?;
    let step = line.split(':').next().unwrap_or(line).to_string();
    expect(s, &step, ok).await
}

/// Reads a (possibly multi-line) reply and checks its first digit.
async fn expect(s: &mut BufReader<TcpStream>, step: &str, ok: char) -> Result<(), Fail> {
    loop {
        let mut line = String::new();
        if s.read_line(&mut line).await? == 0 {
            return Err(Fail::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
        if !line.starts_with(ok) {
            return Err(Fail::Refused(step.to_string(), line.trim().to_string()));
        }
        // "250-..." continues, "250 ..." (or a bare code) ends the reply.
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}

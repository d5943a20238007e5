//! Test harness for the sensor crate: a small TLS (or plain TCP) D4 sink that decodes
//! packets with `d4_proto::decode` and checks their HMAC, can be stopped
//! gracefully or abruptly and restarted on the same port; a sensor config directory
//! builder; and a client process with piped stdin.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use d4_proto::{decode, Decoded, Header, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

pub(crate) const KEY: &[u8] = b"private key to change";
pub(crate) const UUID: &str = "ff7ba400-e76c-4053-982d-feec42bdef38";

/// One packet the sink accepted.
#[derive(Debug, Clone)]
pub(crate) struct Got {
    pub conn: usize,
    pub header: Header,
    pub payload: Vec<u8>,
}

#[derive(Default)]
struct State {
    packets: Vec<Got>,
    bad_hmac: usize,
}

/// How connections end when the sink stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Running,
    /// close_notify + FIN, then close.
    Graceful,
    /// Drop the sockets at once (unread data → RST), like kill -9.
    Abrupt,
}

/// A D4 receiver on 127.0.0.1.
pub(crate) struct Sink {
    pub port: u16,
    rt: tokio::runtime::Runtime,
    state: Arc<Mutex<State>>,
    acceptor: Option<TlsAcceptor>,
    stop: Option<tokio::sync::watch::Sender<Stop>>,
    live: Arc<AtomicUsize>,
    conns: Arc<AtomicUsize>,
}

fn load_acceptor(certs: &d4_testkit::Certs) -> TlsAcceptor {
    let cert_pem = std::fs::read(certs.cert()).unwrap();
    let key_pem = std::fs::read(certs.key()).unwrap();
    let chain: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .map(|c| c.unwrap())
        .collect();
    let key = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .unwrap()
        .unwrap();
    let conf = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    TlsAcceptor::from(Arc::new(conf))
}

impl Sink {
    /// A TLS sink with the project's generated certificate; not started yet.
    pub(crate) fn tls(certs: &d4_testkit::Certs) -> Sink {
        Sink::new(Some(load_acceptor(certs)))
    }

    /// A plain-TCP sink.
    pub(crate) fn plain() -> Sink {
        Sink::new(None)
    }

    fn new(acceptor: Option<TlsAcceptor>) -> Sink {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        Sink {
            port: d4_testkit::free_port(),
            rt,
            state: Arc::default(),
            acceptor,
            stop: None,
            live: Arc::default(),
            conns: Arc::default(),
        }
    }

    /// Binds the port (retrying briefly) and accepts connections.
    pub(crate) fn start(&mut self) {
        let (tx, rx) = tokio::sync::watch::channel(Stop::Running);
        self.stop = Some(tx);
        let port = self.port;
        let listener = self.rt.block_on(async move {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                    Ok(l) => return l,
                    Err(e) if Instant::now() < deadline => {
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => panic!("bind {port}: {e}"),
                }
            }
        });
        let (acceptor, state, live, conns) = (
            self.acceptor.clone(),
            self.state.clone(),
            self.live.clone(),
            self.conns.clone(),
        );
        self.rt.spawn(async move {
            let mut stop = rx.clone();
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    r = listener.accept() => {
                        let Ok((tcp, _)) = r else { continue };
                        let id = conns.fetch_add(1, Ordering::SeqCst);
                        live.fetch_add(1, Ordering::SeqCst);
                        let (acceptor, state, live, rx) = (acceptor.clone(), state.clone(), live.clone(), rx.clone());
                        tokio::spawn(async move {
                            match acceptor {
                                Some(a) => {
                                    if let Ok(s) = a.accept(tcp).await {
                                        serve(s, id, state, rx).await;
                                    }
                                }
                                None => serve(tcp, id, state, rx).await,
                            }
                            live.fetch_sub(1, Ordering::SeqCst);
                        });
                    }
                }
            }
        });
    }

    /// Stops accepting and ends every connection the given way; waits until they are gone.
    pub(crate) fn stop(&mut self, how: Stop) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(how);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.live.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every packet accepted so far.
    pub(crate) fn packets(&self) -> Vec<Got> {
        self.state.lock().unwrap().packets.clone()
    }

    /// Packets whose HMAC did not verify under [`KEY`].
    pub(crate) fn bad_hmac(&self) -> usize {
        self.state.lock().unwrap().bad_hmac
    }

    /// Connections accepted so far.
    pub(crate) fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }

    /// All received payload bytes split into lines (per connection, so a record cut by a
    /// connection drop would show up as a broken line).
    pub(crate) fn lines(&self) -> Vec<String> {
        let mut per_conn: std::collections::BTreeMap<usize, Vec<u8>> = Default::default();
        for g in self.packets() {
            if g.header.data_type.0 != 2 {
                per_conn
                    .entry(g.conn)
                    .or_default()
                    .extend_from_slice(&g.payload);
            }
        }
        per_conn
            .values()
            .flat_map(|b| {
                String::from_utf8_lossy(b)
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Waits until `pred` holds on the packets, or the timeout.
    pub(crate) fn wait_until(&self, timeout: Duration, pred: impl Fn(&[Got]) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if pred(&self.packets()) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        pred(&self.packets())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop(Stop::Abrupt);
    }
}

async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut s: S,
    id: usize,
    state: Arc<Mutex<State>>,
    mut stop: tokio::sync::watch::Receiver<Stop>,
) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            _ = stop.changed() => {
                if *stop.borrow() == Stop::Graceful {
                    let _ = s.shutdown().await;
                }
                return;
            }
            r = s.read(&mut chunk) => {
                let n = match r { Ok(0) | Err(_) => { let _ = s.shutdown().await; return; } Ok(n) => n };
                buf.extend_from_slice(&chunk[..n]);
                let mut used = 0;
                loop {
                    match decode(&buf[used..], &Limits::default()) {
                        Ok(Decoded::Packet(p)) => {
                            let len = p.raw.len();
                            let mut st = state.lock().unwrap();
                            if p.verify_hmac(KEY).is_err() {
                                st.bad_hmac += 1;
                            }
                            st.packets.push(Got { conn: id, header: p.header.clone(), payload: p.payload().to_vec() });
                            used += len;
                        }
                        Ok(_) => break,
                        Err(_) => return,
                    }
                }
                buf.drain(..used);
            }
        }
    }
}

/// A sensor configuration directory with the sample values.
pub(crate) struct ConfDir {
    pub dir: tempfile::TempDir,
}

impl ConfDir {
    pub(crate) fn new(destination: &str, data_type: u8, snaplen: usize) -> ConfDir {
        let dir = tempfile::tempdir().unwrap();
        let files: &[(&str, String)] = &[
            ("key", String::from_utf8_lossy(KEY).into_owned() + "\n"),
            ("uuid", format!("{UUID}\n")),
            ("snaplen", format!("{snaplen}\n")),
            ("type", format!("{data_type}\n")),
            ("version", "1\n".into()),
            ("source", "stdin\n".into()),
            ("destination", format!("{destination}\n")),
        ];
        for (name, content) in files {
            std::fs::write(dir.path().join(name), content).unwrap();
        }
        ConfDir { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn write(&self, name: &str, content: &[u8]) {
        std::fs::write(self.dir.path().join(name), content).unwrap();
    }
}

/// A sensor binary with piped stdin, stdout captured to a file, stderr to a log.
pub(crate) struct Client {
    pub child: Option<Child>,
    pub stdin: Option<ChildStdin>,
    out: PathBuf,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Client {
    pub(crate) fn spawn(bin: &str, args: &[&str]) -> Client {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("stdout");
        let log = tmp.path().join("stderr");
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        Client {
            child: Some(child),
            stdin,
            out,
            log,
            _tmp: tmp,
        }
    }

    /// Closes stdin and waits for the exit code (panics after `timeout`).
    pub(crate) fn finish(&mut self, timeout: Duration) -> i32 {
        drop(self.stdin.take());
        let child = self.child.as_mut().unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = child.try_wait().unwrap() {
                self.child = None;
                return st.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "client did not exit in {timeout:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn stdout(&self) -> Vec<u8> {
        std::fs::read(&self.out).unwrap_or_default()
    }

    pub(crate) fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("----- client log -----\n{}", self.log());
        }
    }
}

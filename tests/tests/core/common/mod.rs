//! Shared harness for the core tests: a store plus connected store-facade clients per role.

#![allow(dead_code)]

use d4_core::config::RedisEndpoint;
use d4_core::queues::Queues;
use d4_core::store::{Cmd, Policy, Store as Client};
use d4_testkit::Store;

/// A store with clients for META (db 0), ANALYZER (db 2) and STREAM (db 0 of a second store
/// is not needed: tests put every role on one store, as the dbs keep them apart).
pub(crate) struct Env {
    pub(crate) store: Store,
    pub(crate) meta: Client,
    pub(crate) analyzer: Client,
}

/// A facade connection to `store` at `db`.
pub(crate) async fn connect(store: &Store, db: u8) -> Client {
    Client::connect(&endpoint(store, db), Policy::DAEMON)
        .await
        .unwrap_or_else(|e| panic!("connect db {db}: {e}"))
}

/// The endpoint of `store` at `db`.
pub(crate) fn endpoint(store: &Store, db: u8) -> RedisEndpoint {
    RedisEndpoint::single("127.0.0.1", store.port, db)
}

impl Env {
    /// Starts a store; `None` when redis-server is missing outside CI.
    pub(crate) async fn start() -> Option<Env> {
        let store = Store::start()?;
        let meta = connect(&store, 0).await;
        let analyzer = connect(&store, 2).await;
        Some(Env {
            store,
            meta,
            analyzer,
        })
    }

    /// Queue manager with the given default size.
    pub(crate) fn queues(&self, default_max: u64) -> Queues {
        Queues::new(self.meta.clone(), self.analyzer.clone(), default_max)
    }

    /// Seeds the accepted types like the server does at start.
    pub(crate) async fn seed_accepted(&self) {
        let _: () = self
            .meta
            .query(&Cmd::sadd(
                "server:accepted_type",
                &["1", "2", "3", "4", "8", "254"],
            ))
            .await
            .unwrap();
        let _: () = self
            .meta
            .query(&Cmd::sadd("server:accepted_extended_type", "ja3-jl"))
            .await
            .unwrap();
    }
}

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use d4_core::proto::{encode_packet, DataType};
use d4_testkit::{Certs, Proc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// Certificates made once per test binary by the project's gen_cert scripts.
pub(crate) fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(Certs::generate)
}

/// Redis stores, a config file and the real `d4-server` (+ optionally `d4-workers`).
pub(crate) struct Stack {
    /// STREAM store (db 0).
    pub(crate) stream: Store,
    /// METADATA/ANALYZER store (db 0 / db 2).
    pub(crate) meta: Store,
    /// The D4 TLS port.
    pub(crate) port: u16,
    /// Temp dir holding server.conf and data/.
    pub(crate) dir: tempfile::TempDir,
    /// The server process.
    pub(crate) server: Option<Proc>,
    /// The workers process.
    pub(crate) workers: Option<Proc>,
    /// Client META connection.
    pub(crate) meta_client: Client,
    /// Client ANALYZER connection.
    pub(crate) analyzer_client: Client,
}

/// Server mode of a test stack.
#[derive(Clone, Copy)]
pub(crate) enum Mode {
    /// Registration.
    Registration,
    /// Shared secret.
    SharedSecret,
}

impl Stack {
    /// Starts stores and d4-server; `None` when redis-server is missing outside CI.
    pub(crate) async fn start(mode: Mode, with_workers: bool) -> Option<Stack> {
        Stack::start_on(mode, with_workers, "127.0.0.1").await
    }

    /// Like [`Stack::start`] with the server bound to `host`.
    pub(crate) async fn start_on(mode: Mode, with_workers: bool, host: &str) -> Option<Stack> {
        let stream = Store::start()?;
        let meta = Store::start()?;
        let certs = certs();
        let dir = tempfile::tempdir().expect("tempdir");
        let port = d4_testkit::free_port();
        let mode = match mode {
            Mode::Registration => "registration",
            Mode::SharedSecret => "shared-secret",
        };
        let conf = format!(
            "[Save_Directories]\nuse_default_save_directory = no\nsave_directory = {data}\n\n\
             [D4_Server]\nserver_port = {port}\nserver_host = {host}\nserver_mode = {mode}\n\
             default_hmac_key = private key to change\nanalyzer_queues_max_size = 100000000\n\
             tls_cert_file = {cert}\ntls_key_file = {key}\n\n\
             [Redis_STREAM]\nhost = 127.0.0.1\nport = {sp}\ndb = 0\n\n\
             [Redis_METADATA]\nhost = 127.0.0.1\nport = {mp}\ndb = 0\n\n\
             [Redis_SERV]\nhost = 127.0.0.1\nport = {mp}\ndb = 1\n\n\
             [Redis_ANALYZER]\nhost = 127.0.0.1\nport = {mp}\ndb = 2\n\n\
             [Redis_CACHE]\nhost = 127.0.0.1\nport = {mp}\ndb = 3\n",
            data = dir.path().join("data").display(),
            cert = certs.cert().display(),
            key = certs.key().display(),
            sp = stream.port,
            mp = meta.port,
        );
        std::fs::write(dir.path().join("server.conf"), conf).expect("write conf");
        let meta_client = connect(&meta, 0).await;
        let analyzer_client = connect(&meta, 2).await;
        let mut stack = Stack {
            stream,
            meta,
            port,
            dir,
            server: None,
            workers: None,
            meta_client,
            analyzer_client,
        };
        stack.start_server();
        if with_workers {
            stack.start_workers();
        }
        Some(stack)
    }

    /// Path of the config file.
    pub(crate) fn conf(&self) -> PathBuf {
        self.dir.path().join("server.conf")
    }

    /// The data directory.
    pub(crate) fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// (Re)starts d4-server and waits for its listening line.
    pub(crate) fn start_server(&mut self) {
        let mut cmd = Command::new(d4_testkit::bin_path("d4-server"));
        cmd.arg("-c").arg(self.conf()).current_dir(self.dir.path());
        let mut p = Proc::spawn("d4-server", cmd);
        assert!(
            p.wait_for_output("listening on", Duration::from_secs(20)),
            "d4-server did not start:\n{}",
            p.output()
        );
        self.server = Some(p);
    }

    /// (Re)starts d4-workers.
    pub(crate) fn start_workers(&mut self) {
        let mut cmd = Command::new(d4_testkit::bin_path("d4-workers"));
        cmd.arg("-c").arg(self.conf()).current_dir(self.dir.path());
        let mut p = Proc::spawn("d4-workers", cmd);
        assert!(
            p.wait_for_output("Worker family started", Duration::from_secs(20)),
            "d4-workers did not start:\n{}",
            p.output()
        );
        self.workers = Some(p);
    }

    /// Queue manager over the stack's stores.
    pub(crate) fn queues(&self) -> Queues {
        Queues::new(
            self.meta_client.clone(),
            self.analyzer_client.clone(),
            100_000_000,
        )
    }

    /// Waits until `cond` holds (polling), panicking with `what` after `timeout`.
    pub(crate) fn wait_until(&self, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if cond() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "timed out waiting for {what}\n--- server ---\n{}\n--- workers ---\n{}",
            self.server.as_ref().map(Proc::output).unwrap_or_default(),
            self.workers.as_ref().map(Proc::output).unwrap_or_default()
        );
    }
}

/// A test sensor speaking the D4 protocol over TLS (as d4-goclient does).
#[derive(Clone)]
pub(crate) struct Sensor {
    /// Raw uuid.
    pub(crate) uuid: [u8; 16],
    /// HMAC key.
    pub(crate) key: Vec<u8>,
    /// D4 type.
    pub(crate) ty: u8,
}

impl Sensor {
    /// A type-8 sensor with the default key.
    pub(crate) fn new(uuid_hex: &str) -> Sensor {
        let mut uuid = [0u8; 16];
        hex::decode_to_slice(uuid_hex, &mut uuid).expect("uuid hex");
        Sensor {
            uuid,
            key: b"private key to change".to_vec(),
            ty: 8,
        }
    }

    /// The uuid as the server keys it.
    pub(crate) fn hex(&self) -> String {
        hex::encode(self.uuid)
    }

    /// One signed packet.
    pub(crate) fn packet(&self, payload: &[u8]) -> Vec<u8> {
        encode_packet(
            1,
            DataType(self.ty),
            self.uuid,
            1_700_000_000,
            &self.key,
            payload,
        )
    }

    /// Connects over TLS, verifying the server with the test root CA.
    pub(crate) async fn connect(&self, port: u16) -> TlsStream<TcpStream> {
        connect_tls(port).await
    }
}

/// A TLS connection to the local d4-server.
pub(crate) async fn connect_tls(port: u16) -> TlsStream<TcpStream> {
    connect_tls_to("127.0.0.1", port).await
}

/// One TLS client configuration for every test connection (trusts the test root CA).
pub(crate) fn connector() -> tokio_rustls::TlsConnector {
    static C: OnceLock<tokio_rustls::TlsConnector> = OnceLock::new();
    C.get_or_init(|| {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(certs().root_ca()).expect("root ca");
        for c in rustls_pemfile::certs(&mut pem.as_slice()) {
            roots.add(c.expect("pem")).expect("add root");
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(cfg))
    })
    .clone()
}

/// A TLS connection to the d4-server on `ip` (`127.0.0.1` or `::1`).
pub(crate) async fn connect_tls_to(ip: &str, port: u16) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect((ip, port)).await.expect("connect");
    let name = rustls::pki_types::ServerName::try_from(ip.to_string()).expect("name");
    connector().connect(name, tcp).await.expect("tls handshake")
}

/// Writes bytes and flushes.
pub(crate) async fn send(s: &mut TlsStream<TcpStream>, bytes: &[u8]) {
    s.write_all(bytes).await.expect("write");
    s.flush().await.expect("flush");
}

/// True if the server closed the connection within `timeout` (it never sends data).
pub(crate) async fn closed_by_server(s: &mut TlsStream<TcpStream>, timeout: Duration) -> bool {
    let mut b = [0u8; 16];
    match tokio::time::timeout(timeout, s.read(&mut b)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => false,
        Err(_) => false,
    }
}

/// Today's local `YYYYmmdd`.
pub(crate) fn today() -> String {
    chrono::Local::now().format("%Y%m%d").to_string()
}

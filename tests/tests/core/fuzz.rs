//! Property test: any byte sequence — random, or valid packets truncated, corrupted and
//! cut into arbitrary read chunks — fed to the connection handler never panics and
//! always ends the session (with a real redis-server behind it). End to end: the pure
//! session's own property test (`d4-server`'s unit tests) needs no store.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use d4_core::config::{AdmissionSettings, ServerMode};
use d4_core::proto::{encode_packet, DataType, Limits};
use d4_core::store::{cmd, Cmd};
use d4_server::admission::Admission;
use d4_server::connection::{self, Ctx, End};
use d4_server::effects::Stores;
use d4_server::kick::Registry;
use proptest::prelude::*;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio_util::sync::CancellationToken;

use crate::common::connect;

/// Yields the input in the given chunk sizes, then EOF.
struct Chunked {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    k: usize,
}

impl AsyncRead for Chunked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self
            .sizes
            .get(self.k % self.sizes.len().max(1))
            .copied()
            .unwrap_or(1)
            .max(1);
        let end = (self.pos + n)
            .min(self.data.len())
            .min(self.pos + buf.remaining());
        let start = self.pos;
        buf.put_slice(&self.data[start..end]);
        self.pos = end;
        self.k += 1;
        Poll::Ready(Ok(()))
    }
}

fn packets() -> impl Strategy<Value = Vec<u8>> {
    let one = (
        prop_oneof![Just(8u8), Just(2), Just(254), Just(3), any::<u8>()],
        prop_oneof![Just([0x11u8; 16]), any::<[u8; 16]>()],
        proptest::collection::vec(any::<u8>(), 0..300),
        any::<bool>(),
    )
        .prop_map(|(ty, mut uuid, payload, good_key)| {
            uuid[6] = (uuid[6] & 0x0f) | 0x40;
            uuid[8] = (uuid[8] & 0x3f) | 0x80;
            let key: &[u8] = if good_key {
                b"private key to change"
            } else {
                b"nope"
            };
            encode_packet(1, DataType(ty), uuid, 0, key, &payload)
        });
    proptest::collection::vec(one, 0..6).prop_map(|v| v.concat())
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2000),
        (
            packets(),
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            any::<u8>()
        )
            .prop_map(|(mut p, cut, flip, x)| {
                if !p.is_empty() {
                    let i = flip.index(p.len());
                    p[i] ^= x;
                    p.truncate(cut.index(p.len() + 1));
                }
                p
            }),
        packets(),
    ]
}

async fn ctx_for(store: &d4_testkit::Store, idle: Duration) -> Ctx {
    let meta = connect(store, 1).await;
    let () = meta
        .query(&Cmd::sadd("server:accepted_type", &["2", "8", "254"]))
        .await
        .unwrap();
    let () = meta
        .query(&Cmd::set(
            "server:hmac_default_key",
            "private key to change",
        ))
        .await
        .unwrap();
    Ctx {
        stores: Stores {
            stream: connect(store, 0).await,
            meta,
        },
        mode: ServerMode::SharedSecret,
        limits: Limits::default(),
        admission: Admission::new(AdmissionSettings {
            unauthenticated_timeout: idle,
            ..AdmissionSettings::default()
        }),
        registry: Registry::default(),
        metrics: Default::default(),
    }
}

/// Admits a connection from `peer` and serves it until it ends.
async fn run_conn<S: AsyncRead + Unpin>(io: S, ctx: &Ctx, peer: std::net::SocketAddr) -> End {
    let cancel = CancellationToken::new();
    let ticket = ctx.admission.admit(peer, cancel.clone()).expect("admitted");
    connection::run(io, ctx, ticket, cancel).await
}

#[test]
fn any_byte_stream_ends_the_session_without_panic() {
    let Some(store) = d4_testkit::Store::start() else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ctx = rt.block_on(ctx_for(&store, Duration::from_millis(200)));
    let cfg = ProptestConfig {
        cases: 96,
        ..ProptestConfig::default()
    };
    proptest!(cfg, |(data in input(), sizes in proptest::collection::vec(1usize..200, 1..8))| {
        let reader = Chunked { data, pos: 0, sizes, k: 0 };
        let peer = "127.0.0.1:40000".parse().unwrap();
        let end = rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(10),
                run_conn(reader, &ctx, peer),
            )
            .await
        });
        prop_assert!(end.is_ok(), "session did not end");
    });
    assert!(ctx.registry.is_empty());
    assert_eq!(ctx.admission.live(), 0, "every slot is freed");
}

/// A silent peer that never sent a header is closed after the idle timeout; one whose
/// header was accepted stays open and keeps its partial packet across the idle time.
#[tokio::test]
async fn idle_timeouts() {
    let Some(store) = d4_testkit::Store::start() else {
        return;
    };
    let ctx = ctx_for(&store, Duration::from_millis(300)).await;
    let peer: std::net::SocketAddr = "127.0.0.1:40001".parse().unwrap();
    let (_keep_open, silent) = tokio::io::duplex(64);
    let end = run_conn(silent, &ctx, peer).await;
    assert!(matches!(end, connection::End::Timeout), "{end:?}");

    let (mut w, r) = tokio::io::duplex(1 << 16);
    let mut uuid = [0x22u8; 16];
    uuid[6] = 0x42;
    uuid[8] = 0x82;
    let key = b"private key to change";
    let first = encode_packet(1, DataType(8), uuid, 0, key, b"a\n");
    let second = encode_packet(1, DataType(8), uuid, 0, key, b"later\n");
    let task = {
        let ctx = ctx.clone();
        tokio::spawn(async move { run_conn(r, &ctx, peer).await })
    };
    w.write_all(&first).await.unwrap();
    w.write_all(&second[..40]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(
        !task.is_finished(),
        "an authenticated idle session must stay open"
    );
    w.write_all(&second[40..]).await.unwrap();
    drop(w);
    let end = task.await.unwrap();
    assert!(matches!(end, connection::End::Eof), "{end:?}");
    let keys: Vec<String> = ctx
        .stores
        .stream
        .query(&Cmd::keys("stream:8:*"))
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    let len: u64 = ctx
        .stores
        .stream
        .query(cmd("XLEN").arg(keys[0].as_str()))
        .await
        .unwrap();
    assert_eq!(
        len, 2,
        "the packet completed after the idle period is accepted"
    );
}

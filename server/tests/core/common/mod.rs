//! Shared harness for the core tests: a store plus connected `fred` clients per role.

#![allow(dead_code)]

use d4_core::config::RedisEndpoint;
use d4_core::queues::Queues;
use d4_testkit::Store;
use fred::prelude::*;

/// A store with clients for META (db 0), ANALYZER (db 2) and STREAM (db 0 of a second store
/// is not needed: tests put every role on one store, as the dbs keep them apart).
pub struct Env {
    pub store: Store,
    pub meta: Client,
    pub analyzer: Client,
}

/// The endpoint of `store` at `db`.
pub fn endpoint(store: &Store, db: u8) -> RedisEndpoint {
    RedisEndpoint {
        host: "127.0.0.1".into(),
        port: store.port,
        db,
    }
}

impl Env {
    /// Starts a store; `None` when redis-server is missing outside CI.
    pub async fn start() -> Option<Env> {
        let store = Store::start()?;
        let meta = endpoint(&store, 0).connect().await.expect("connect meta");
        let analyzer = endpoint(&store, 2)
            .connect()
            .await
            .expect("connect analyzer");
        Some(Env {
            store,
            meta,
            analyzer,
        })
    }

    /// Queue manager with the given default size.
    pub fn queues(&self, default_max: u64) -> Queues {
        Queues::new(self.meta.clone(), self.analyzer.clone(), default_max)
    }

    /// Seeds the accepted types like the server does at start.
    pub async fn seed_accepted(&self) {
        let _: () = self
            .meta
            .sadd("server:accepted_type", vec!["1", "2", "3", "4", "8", "254"])
            .await
            .unwrap();
        let _: () = self
            .meta
            .sadd("server:accepted_extended_type", "ja3-jl")
            .await
            .unwrap();
    }
}

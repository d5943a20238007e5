//! The workers (`d4-workers`): turn session streams into analyzer-queue items and files.
//!
//! One process runs one [`family::Family`] task per manager type (spec §4): 8
//! (passivedns), 3 (log lines), 4 (dnscap), 2 (meta header and its 254 data), 1 (pcap). Each
//! adopts sessions from `session_uuid:<type>`, reads their streams with blocking
//! `XREAD`s, and hands entries to the session's worker ([`session::Worker`]).
//!
//! - [`family`]: the manager loop, delivery, `XDEL`, end-of-session and shutdown.
//! - [`session`]: the per-session worker by type.
//! - [`text`]: types 3, 4, 8. [`meta`]: types 2/254 ([`ja3`]: the ja3-jl module). [`pcap`]: type 1.
//! - [`lines`]: line reassembly across packets. [`files`]: rotating files and gzip.

pub mod family;
pub mod files;
pub mod ja3;
pub mod lines;
pub mod meta;
pub mod pcap;
pub mod session;
pub mod text;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;
use tokio_util::sync::CancellationToken;

use d4_core::config::RedisEndpoint;
use d4_core::queues::Queues;

/// Manager types run by default.
pub const DEFAULT_FAMILIES: &[u8] = &[8, 3, 2, 4, 1];

/// What every worker family shares.
pub struct Ctx {
    /// `Redis_STREAM` (pipelined commands; each family opens its own blocking reader).
    pub stream: Client,
    /// Where the blocking readers connect.
    pub stream_endpoint: RedisEndpoint,
    /// `Redis_METADATA`.
    pub meta: Client,
    /// Queue delivery.
    pub queues: Queues,
    /// `[Save_Directories]`.
    pub data_dir: PathBuf,
    /// How long queue targets are cached.
    pub target_ttl: Duration,
}

/// Runs the given families until `stop`, then waits for each to suspend its sessions.
pub async fn run(ctx: Arc<Ctx>, families: &[u8], stop: CancellationToken) {
    let mut tasks = tokio::task::JoinSet::new();
    for ty in families {
        let fam = family::Family::new(ctx.clone(), *ty);
        tasks.spawn(fam.run(stop.clone()));
    }
    while tasks.join_next().await.is_some() {}
}

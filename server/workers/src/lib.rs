//! The workers (`d4-workers`): turn session streams into analyzer-queue items and files.
//!
//! One process runs one `family` task per manager type (spec §4): 8 (passivedns), 3 (log
//! lines), 4 (dnscap), 2 (meta header and its 254 data), 1 (pcap). Which worker handles a
//! type comes from the one type registry (`d4_proto::REGISTRY`, its `Handler`), through
//! [`Kind::of`]; a type without a handler is refused, never processed as another type.
//! Each family claims and adopts sessions from `session_uuid:<type>`, reads their streams with
//! blocking `XREAD`s, and hands entries to the session's worker.
//!
//! - `claim`: one worker per session when several `d4-workers` share a stream store.
//! - `ctx`: what every family shares (stores, queues, data folder, this worker's id).
//! - `dispatch`: type → worker family, from the registry.
//! - `entry`: stream entries and `XREAD` replies. `flow`: a batch's outcome, session rejection.
//! - `family`: the manager loop, delivery, `XDEL`, end-of-session and shutdown.
//! - `session`: the per-session worker, one variant per family.
//! - `text`: line types (3, 4, 8 and any other type registered as `Lines`).
//! - `meta`: types 2/254; `ext`: its extended-type modules (default handler, `maltrail`,
//!   `ja3-jl` in `ja3`, `filewatcher` and `filewatcherjson` in `filewatcher`).
//! - `pcap`: type 1.
//! - `lines`: line reassembly across packets.
//! - `files`: rotating files, gzip, and whole-element files whose paths are queued.
//! - [`metrics`]: the Prometheus counters served by `--metrics`.
//! - `monitor`: sensor-down, queue-full and queue-not-consumed alerts (`--no-monitor`
//!   turns it off where several workers share the stores).
//!
//! A new D4 type handler: a row (and, if new, a `Handler` variant) in `d4_proto::types`,
//! then one worker file here with its arm in `dispatch` and its variant in `session`.
//! A new line-based type needs only the registry row (or a [`TextKind`] variant in
//! `text` for its own file naming).

mod claim;
mod ctx;
mod dispatch;
mod entry;
mod ext;
mod family;
mod files;
mod filewatcher;
mod flow;
mod ja3;
mod lines;
mod meta;
pub mod metrics;
pub mod monitor;
mod pcap;
mod session;
mod text;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use d4_core::store::StoreError;

pub use ctx::Ctx;
pub use dispatch::{available, Kind, NoWorker};
pub use text::TextKind;

/// Manager types run by default.
pub const DEFAULT_FAMILIES: &[u8] = &[8, 3, 2, 4, 1];

/// Runs one family per kind until `stop`, then waits for each to suspend its sessions.
/// The first family that could not start (its stream reader refused) is the error.
pub async fn run(ctx: Arc<Ctx>, kinds: &[Kind], stop: CancellationToken) -> Result<(), StoreError> {
    let mut tasks = tokio::task::JoinSet::new();
    for kind in kinds {
        let fam = family::Family::new(ctx.clone(), *kind);
        tasks.spawn(fam.run(stop.clone()));
    }
    let mut first_err = None;
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                // One family cannot run: stop the others rather than run half a worker.
                stop.cancel();
                first_err.get_or_insert(e);
            }
            Err(join) => {
                tracing::error!(error = %join, "A worker family panicked.");
                stop.cancel();
            }
        }
    }
    first_err.map_or(Ok(()), Err)
}

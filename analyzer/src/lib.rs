//! Passive DNS analyzer (spec `pdns.md`): the drop-in for `analyzer-d4-passivedns`.
//!
//! - [`model`]: the shared model: `analyzer.conf`, key names, RR types, the passivedns line.
//! - `write`: records aggregated into batches and the batched store writer (ingest and import).
//! - [`ingest`]: `pdns-ingestion`: crash-safe batched FIFO pops of `analyzer:8:<uuid>` (through
//!   a processing list) and the ingestion loop.
//! - [`import`]: `pdns-import`: COF NDJSON, passivedns logs, gzip and COF websocket streams.
//! - [`check`]: `--check` of every program and the configuration warnings logged at start.
//! - [`cof`]: `pdns-cof-server`: the COF HTTP API, its store lookups and its NDJSON records.
//! - [`index`]: the d4-rs search indexes (wildcards, CIDR, newest first): their writes, the
//!   newly observed feed and `pdns-reindex`.
//! - `search`: the query engine over those indexes (used by the COF API).
//!
//! Every store access goes through the facade `d4_core::store`; the binaries run under
//! `d4_core::runtime` (logging, signals, shutdown deadline).

pub mod check;
pub mod cof;
pub mod import;
pub mod index;
pub mod ingest;
pub mod model;
pub(crate) mod search;
pub(crate) mod write;

//! Passive DNS analyzer (spec `pdns.md`): the drop-in for `analyzer-d4-passivedns`.
//!
//! - [`keys`]: every Redis key name (pDNS store and the D4 queue).
//! - [`rrtype`]: RR type mnemonics ↔ numbers.
//! - [`line`]: passivedns line parser (pure).
//! - [`config`]: the `analyzer.conf` file.
//! - [`batch`]: a batch of lines aggregated into writes (pure).
//! - [`store`]: connections and the batch writer.
//! - [`queue`]: batched FIFO pops of `analyzer:8:<uuid>`.
//! - [`ingest`]: the `pdns-ingestion` loop.
//! - [`cof`]: COF records as NDJSON, byte-compatible with upstream.
//! - [`query`]: COF lookups in the store.
//! - [`web`]: the COF HTTP API (`pdns-cof-server`).
//! - [`import`]: `pdns-import` sources (COF NDJSON, passivedns logs, gzip).
//! - [`ws`]: minimal websocket client for COF streams.
//! - [`cli`]: logging, config loading and signals for the binaries.

pub mod batch;
pub mod cli;
pub mod cof;
pub mod config;
pub mod import;
pub mod ingest;
pub mod keys;
pub mod line;
pub mod query;
pub mod queue;
pub mod reader;
pub mod rrtype;
pub mod store;
pub mod web;
pub mod ws;

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
//! - [`cli`]: logging, config loading and signals for the binaries.

pub mod batch;
pub mod cli;
pub mod config;
pub mod ingest;
pub mod keys;
pub mod line;
pub mod queue;
pub mod rrtype;
pub mod store;

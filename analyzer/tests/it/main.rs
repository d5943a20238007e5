//! Process-level tests of the analyzer binaries against real `redis-server` (one binary,
//! one module per topic).

mod batch;
mod cof;
mod cof_wire;
mod common;
mod concurrent;
mod diagnostics;
mod dnsdb;
mod feed;
mod import;
mod index;
mod ingestion;
mod ingestion_crash;
mod page;
mod quota;
mod reindex;
mod search;
mod store_errors;

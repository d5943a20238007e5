//! Process-level tests of the analyzer binaries against real `redis-server` (one binary,
//! one module per topic).

mod cof;
mod cof_wire;
mod common;
mod diagnostics;
mod import;
mod ingestion;
mod ingestion_crash;

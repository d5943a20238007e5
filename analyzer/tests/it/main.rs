//! Process-level tests of the analyzer binaries against real `redis-server` (one binary,
//! one module per topic).

mod cof;
mod common;
mod import;
mod ingestion;

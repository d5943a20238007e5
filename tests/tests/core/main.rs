//! Process-level tests of the D4 core (queues, d4-server, d4-workers) against a real
//! `redis-server`, real TLS and the real binaries. One test binary, one module per topic.

mod common;
mod e2e;
mod filewatcher;
mod fuzz;
mod hostile;
mod ingest;
mod meta;
mod metrics;
mod monitor;
mod multi;
mod queues;
mod workers;

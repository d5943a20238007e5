//! Integration tests of the `d4-sensor` crate, one module per topic.

mod common;

mod capture;
mod capture_upstream;
mod client_stream;
mod client_tls;
mod folder;
mod fuzz_regressions;
mod live;
mod pcapgen;
mod print_uuid;
mod reconnect;
mod rejected;
mod sensor_bin;
mod sources;

//! Integration tests of the `d4-sensor` crate, one module per topic.

mod common;

mod capture;
mod client_stream;
mod client_tls;
mod live;
mod pcapgen;
mod reconnect;
mod sensor_bin;
mod sources;

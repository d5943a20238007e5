//! The TLS ingest server (`d4-server`), and reads of the live-connection state it keeps.
//!
//! - [`connected`]: which sensors are connected now (for the web and monitoring).

pub mod connected;

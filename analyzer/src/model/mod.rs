//! The model every analyzer program shares: its configuration, the store's key names, the RR
//! type table and the passivedns line. Pure: nothing here does I/O except reading the config.
//!
//! - [`config`]: `analyzer.conf` → [`config::AnalyzerConfig`].
//! - [`keys`]: every Redis key name of the pDNS store and the D4 queue.
//! - `rrtype`: RR type mnemonics ↔ numbers, and the types the COF server serves.
//! - `line`: the passivedns line parser.

pub mod config;
pub mod keys;
pub(crate) mod line;
pub(crate) mod rrtype;

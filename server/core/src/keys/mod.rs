//! Every Redis key name of the D4 server stores, and nothing else.
//!
//! This module is the single place where key strings are formatted (spec
//! `d4-core-server.md` §3, `d4-core-web.md` §2.1). It does no I/O. Each submodule is one
//! Redis role of `server.conf`:
//!
//! | module | role | default |
//! |---|---|---|
//! | [`stream`] | `Redis_STREAM` | 6379 db 0 |
//! | [`meta`] | `Redis_METADATA` (sensors, stats, queue metadata) | 6380 db 0 |
//! | [`serv`] | `Redis_SERV` (users, roles, tokens) | 6380 db 1 |
//! | [`analyzer`] | `Redis_ANALYZER` (analyzer queue lists) | 6380 db 2 |
//! | [`cache`] | `Redis_CACHE` (login counters, web sessions) | 6380 db 3 |
//!
//! Arguments: `uuid`/`sensor` is the 32-hex sensor uuid, `session` the dashed session uuid,
//! `ty` the decimal D4 type, `ext` an extended type name, `date` local `YYYYmmdd`, `q` a
//! queue uuid as stored (dashed or not).

pub mod analyzer;
pub mod cache;
pub mod meta;
pub mod serv;
pub mod stream;

/// Local date in the `YYYYmmdd` form used by every daily key.
pub fn date_key(t: chrono::DateTime<chrono::Local>) -> String {
    t.format("%Y%m%d").to_string()
}

#[cfg(test)]
mod lint;
#[cfg(test)]
mod tests;

//! kv: see lib.rs.

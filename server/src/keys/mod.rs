//! keys: see lib.rs.

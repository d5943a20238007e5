//! workers: see lib.rs.

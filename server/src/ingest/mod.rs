//! ingest: see lib.rs.

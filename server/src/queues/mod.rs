//! queues: see lib.rs.

//! The network side: the listener, start-up and shutdown ([`server`]), and one task per
//! client connection that reads, applies batches and writes replies ([`connection`]).

pub(crate) mod connection;
pub(crate) mod server;

//! Copies of request arguments that the keyspace keeps.

use bytes::Bytes;

/// A stored copy of a request argument. A value kept in the keyspace must own exactly its
/// bytes: an argument is a slice of the request buffer, and keeping it would keep that whole
/// buffer (every other request read with it) alive for as long as the value lives.
pub(crate) fn own(arg: &[u8]) -> Bytes {
    Bytes::copy_from_slice(arg)
}

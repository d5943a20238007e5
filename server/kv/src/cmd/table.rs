//! The command table: every family's [`Spec`]s by lower-case name, and the `COMMAND`
//! command that describes them.

use std::sync::OnceLock;

use bytes::Bytes;

use super::ctx::Ctx;
use super::spec::{spec, Spec, ADMIN, BLOCKING, DENYOOM, FAST, NOAUTH, PROTECTED, READONLY, WRITE};
use super::{connection, hashes, keys, lists, server, sets, streams, strings, transactions, zsets};
use crate::keyspace::Map;
use crate::protocol::args::unknown_subcommand;
use crate::protocol::reply::Reply;

/// `COMMAND` itself (it reads the table, so it lives beside it).
static SPECS: &[Spec] = &[spec!("command", -1, 0, (0, 0, 0), command)];

fn table() -> &'static Map<&'static [u8], &'static Spec> {
    static TABLE: OnceLock<Map<&'static [u8], &'static Spec>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut m = Map::default();
        for s in SPECS
            .iter()
            .chain(connection::SPECS)
            .chain(transactions::SPECS)
            .chain(server::SPECS)
            .chain(keys::SPECS)
            .chain(strings::SPECS)
            .chain(lists::SPECS)
            .chain(sets::SPECS)
            .chain(hashes::SPECS)
            .chain(zsets::SPECS)
            .chain(streams::SPECS)
        {
            m.insert(s.name.as_bytes(), s);
        }
        m
    })
}

/// Looks a command up by (any-case) name.
pub(crate) fn lookup(name: &[u8]) -> Option<&'static Spec> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    let lower = &mut buf[..name.len()];
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    table().get(&*lower).copied()
}

/// All commands (for `COMMAND`).
pub(crate) fn all() -> impl Iterator<Item = &'static Spec> {
    table().values().copied()
}

fn command_entry(s: &Spec) -> Reply {
    let mut flags = Vec::new();
    for (bit, name) in [
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (FAST, "fast"),
        (BLOCKING, "blocking"),
        (NOAUTH, "no_auth"),
        (PROTECTED, "protected"),
    ] {
        if s.flags & bit != 0 {
            flags.push(Reply::Status(name));
        }
    }
    Reply::Array(vec![
        Reply::bulk_str(s.name),
        Reply::Int(s.arity as i64),
        Reply::Set(flags),
        Reply::Int(s.keys.0 as i64),
        Reply::Int(s.keys.1 as i64),
        Reply::Int(s.keys.2 as i64),
        Reply::Set(vec![]),
        Reply::Set(vec![]),
        Reply::Array(vec![]),
        Reply::Array(vec![]),
    ])
}

fn command(_ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    if a.len() == 1 {
        return Reply::Array(all().map(command_entry).collect());
    }
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "count" => Reply::Int(all().count() as i64),
        "info" => Reply::Array(
            a[2..]
                .iter()
                .map(|n| lookup(n).map_or(Reply::NilArray, command_entry))
                .collect(),
        ),
        "list" => Reply::bulks(all().map(|s| Bytes::from_static(s.name.as_bytes()))),
        "docs" => Reply::Map(vec![]),
        _ => unknown_subcommand("command", &a[1]),
    }
}

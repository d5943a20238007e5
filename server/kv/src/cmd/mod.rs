//! Commands: the table, dispatch, and one file per command family.
//!
//! Each family file holds plain functions `fn(&mut Ctx, &[Bytes]) -> Reply` that parse
//! their arguments and *return* the reply, plus a `SPECS` table; nothing here touches a
//! socket, so a whole pipelined batch is applied under one lock and written once.
//!
//! - [`dispatch`]: what every command shares (lookup, arity, auth, `MULTI` queueing,
//!   `maxmemory`, propagation, `WATCH` marking), nested commands, serving blocked clients.
//! - [`table`]: every family's specs by name, and `COMMAND`.
//! - [`spec`]: a command's static description and flag bits.
//! - [`ctx`]: what a handler reaches (store, client, shared state) and typed lookups.
//! - [`client`]: per-connection state commands read and change.
//! - families: [`strings`], [`lists`], [`hashes`], [`sets`], [`zsets`], [`streams`],
//!   [`keys`] (generic key commands), [`connection`], [`transactions`], [`server`].
//!
//! Adding a command: write its handler in its family file (or a new family file listed
//! in [`table`]) and add one `spec!` line to that file's `SPECS`.

pub(crate) mod client;
pub(crate) mod connection;
pub(crate) mod ctx;
pub(crate) mod dispatch;
pub(crate) mod hashes;
pub(crate) mod keys;
pub(crate) mod lists;
pub(crate) mod server;
pub(crate) mod sets;
pub(crate) mod spec;
pub(crate) mod streams;
pub(crate) mod strings;
pub(crate) mod table;
pub(crate) mod transactions;
pub(crate) mod zsets;

pub(crate) use client::ClientState;
pub(crate) use ctx::{Blocked, Ctx};
pub(crate) use dispatch::exec;

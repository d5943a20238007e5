//! A burst of Redis commands sent together on one `fred` client.
//!
//! `fred`'s `Pipeline` flushes the socket after every command (its flush check looks at the
//! router's queue, which a pipeline bypasses), costing one `writev` per command. Commands issued
//! concurrently through the client are instead queued to the router and written with a single
//! flush (fred's automatic pipelining), in issue order on the same connection. Results come back
//! in the same order.

use std::future::Future;
use std::pin::Pin;

use fred::error::Error;
use fred::types::Value;

type Cmd<'a> = Pin<Box<dyn Future<Output = Result<Value, Error>> + Send + 'a>>;

/// Commands to send together.
#[derive(Default)]
pub struct Burst<'a> {
    cmds: Vec<Cmd<'a>>,
}

impl<'a> Burst<'a> {
    /// An empty burst.
    pub fn new() -> Self {
        Burst { cmds: Vec::new() }
    }

    /// Adds a command future, e.g. `client.sadd::<Value, _, _>(k, v)`.
    pub fn push(&mut self, f: impl Future<Output = Result<Value, Error>> + Send + 'a) {
        self.cmds.push(Box::pin(f));
    }

    /// Number of commands.
    pub fn len(&self) -> usize {
        self.cmds.len()
    }

    /// Whether no command was added.
    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// Sends everything and returns each result, in order.
    pub async fn run(self) -> Vec<Result<Value, Error>> {
        futures::future::join_all(self.cmds).await
    }
}

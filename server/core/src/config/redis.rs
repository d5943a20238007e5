//! Connecting `fred` clients to the Redis roles named in `server.conf`.
//!
//! One place decides how every D4 process talks to a store: RESP2, reconnect with a
//! capped exponential backoff forever (a store restart must not kill a daemon), and a
//! command timeout so no request waits forever on a dead connection.

use std::time::Duration;

use fred::prelude::*;

use super::RedisEndpoint;

/// Command timeout for every request sent by D4 processes.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

impl RedisEndpoint {
    /// Builds a client for this endpoint and waits for its first connection.
    pub async fn connect(&self) -> Result<Client, fred::error::Error> {
        let client = self.client()?;
        client.init().await?;
        Ok(client)
    }

    /// Builds a client for this endpoint without connecting it.
    pub fn client(&self) -> Result<Client, fred::error::Error> {
        let config = Config::from_url(&self.url())?;
        Builder::from_config(config)
            .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(5);
                c.max_command_attempts = 3;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build()
    }
}

//! The state every handler shares: store clients, queue manager, sessions and settings.

use crate::auth::Sessions;
use crate::store::Stores;
use d4_core::config::{ServerConfig, ServerMode};
use std::path::PathBuf;

/// Process settings derived from `server.conf` and the command line.
#[derive(Debug, Clone)]
pub struct Settings {
    /// bcrypt cost for new hashes (12 as upstream; tests lower it).
    pub bcrypt_cost: u32,
    /// Random 1-300 ms delay before password and token checks.
    pub login_jitter: bool,
    /// Where `DEFAULT_PASSWORD` is written on first start.
    pub default_password_file: PathBuf,
    /// Workers' data directory (sensor disk statistics).
    pub data_dir: PathBuf,
    /// `registration` or `shared-secret`.
    pub server_mode: String,
    /// `[D4_Server] analyzer_queues_max_size`.
    pub analyzer_default_max: u64,
    /// The whois program run by the sensor page's lookup (`whois` from `PATH`).
    pub whois_program: PathBuf,
}

impl Settings {
    /// Settings from a validated `server.conf`, with upstream's security defaults.
    pub fn from_config(cfg: &ServerConfig) -> Settings {
        Settings {
            bcrypt_cost: crate::auth::password::DEFAULT_COST,
            login_jitter: true,
            default_password_file: PathBuf::from("DEFAULT_PASSWORD"),
            data_dir: cfg.data_dir.clone(),
            server_mode: match cfg.server_mode {
                ServerMode::Registration => "registration".into(),
                ServerMode::SharedSecret => "shared-secret".into(),
            },
            analyzer_default_max: cfg.analyzer_queues_max_size,
            whois_program: PathBuf::from("whois"),
        }
    }
}

/// Shared application state (one per process, behind `web::Data`).
pub struct AppState {
    /// Redis clients per role.
    pub stores: Stores,
    /// Analyzer-queue manager.
    pub queues: d4_core::queues::Queues,
    /// Live sessions (in the CACHE store).
    pub sessions: Sessions,
    /// Settings.
    pub settings: Settings,
    /// A hash of a random password at `settings.bcrypt_cost`: checked instead of a real one
    /// when the account does not exist, so that an unknown account costs the same time as a
    /// wrong password and login timing does not tell which accounts exist.
    pub decoy_hash: String,
}

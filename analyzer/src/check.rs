//! `--check` of the analyzer programs: the configuration read, every store it names reached,
//! and (for the ingestion) its queue looked up on the D4 server, each problem printed with
//! where it is. Also the configuration warnings every program logs at start.

use std::path::Path;

use d4_core::config::RedisEndpoint;
use d4_core::store::{cmd, Policy, Store, Value};

use crate::ingest::watch::QueueStatus;
use crate::model::config::AnalyzerConfig;

/// Which program checks: each needs different parts of the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// `pdns-ingestion`: the queue (`[global] my-uuid`, `d4-server`) and the store.
    Ingestion,
    /// `pdns-cof-server` and `pdns-import`: the store.
    StoreOnly,
}

/// Problems found by [`check`]: errors make `--check` fail, warnings do not.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// What stops the program from working.
    pub errors: Vec<String>,
    /// What is suspicious but harmless to start with.
    pub warnings: Vec<String>,
}

impl Report {
    /// Prints every problem prefixed by the config path, then a summary line; returns the
    /// exit status of `--check` (0 without errors, 1 with).
    pub fn print(&self, path: &Path) -> i32 {
        for w in &self.warnings {
            println!("{}: warning: {w}", path.display());
        }
        for e in &self.errors {
            println!("{}: error: {e}", path.display());
        }
        if self.errors.is_empty() {
            println!("{}: OK", path.display());
            0
        } else {
            println!("{}: {} error(s)", path.display(), self.errors.len());
            1
        }
    }
}

/// The warnings of a loaded configuration (unknown options), as log lines at start.
pub fn log_config_warnings(cfg: &AnalyzerConfig, path: &Path) {
    for u in &cfg.unknown {
        tracing::warn!(config = %path.display(), "Unknown option {u}: ignored (a typo?).");
    }
}

/// What the file alone says (`--validate`): unknown options (warnings) and, for the
/// ingestion, a `my-uuid` that cannot name a queue (an error).
pub fn config_report(cfg: &AnalyzerConfig, program: Program) -> Report {
    Report {
        warnings: cfg
            .unknown
            .iter()
            .map(|u| format!("unknown option {u} (ignored)"))
            .collect(),
        errors: match program {
            Program::Ingestion => cfg.my_uuid_problem().into_iter().collect(),
            Program::StoreOnly => Vec::new(),
        },
    }
}

/// Checks a loaded configuration for `program`: the file ([`config_report`]), then the stores
/// it needs, reached once each, and the ingestion's queue registration.
pub async fn check(cfg: &AnalyzerConfig, program: Program) -> Report {
    let mut r = config_report(cfg, program);
    reach(&mut r, "pDNS store", &cfg.store).await;
    if program == Program::Ingestion {
        check_queue(&mut r, cfg).await;
    }
    r
}

/// The ingestion's queue: `my-uuid` a uuid, `d4-server` reachable, the queue registered.
async fn check_queue(r: &mut Report, cfg: &AnalyzerConfig) {
    let (uuid, d4) = match cfg.queue() {
        Ok(q) => q,
        Err(e) => return r.errors.push(e.to_string()),
    };
    // A my-uuid no queue can have is already an error of `config_report`: looking it up
    // would only repeat it.
    if !reach(r, "D4 server ([global] d4-server)", d4).await || cfg.my_uuid_problem().is_some() {
        return;
    }
    let Some(meta) = cfg.metadata_endpoint() else {
        return;
    };
    match QueueStatus::read(&meta, uuid).await {
        Ok(status) => match status.problem(uuid, &meta) {
            Err(p) => r.errors.push(p),
            Ok(Some(hint)) => r.warnings.push(hint),
            Ok(None) => {}
        },
        Err(e) => r
            .errors
            .push(format!("cannot read the D4 metadata store: {e:#}")),
    }
}

/// PINGs a store; records an error naming it when that fails. Returns whether it answered.
async fn reach(r: &mut Report, role: &str, ep: &RedisEndpoint) -> bool {
    let res = match Store::connect(ep, Policy::INTERACTIVE).await {
        Ok(s) => s.query::<Value>(&cmd("PING")).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match res {
        Ok(()) => true,
        Err(e) => {
            r.errors
                .push(format!("{role} {} unreachable: {e}", ep.url()));
            false
        }
    }
}

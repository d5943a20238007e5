//! `d4-queues`: analyzer-queue management from the command line, for scripts and for
//! `LAUNCH.sh --quickstart` (the same operations as the web's Server Management page).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use d4_core::config::DEFAULT_SERVER_CONF;
use d4_core::queues::{NewQueue, Queues};
use d4_core::store::{Policy, Store};

/// Manage D4 analyzer queues (the lists analyzers pop from the ANALYZER store).
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The server.conf naming the METADATA and ANALYZER stores.
    #[arg(short, long, default_value = DEFAULT_SERVER_CONF)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a queue and print its uuid.
    Create {
        /// D4 type of the data (8 = passivedns; 2 or 254 need --metatype).
        #[arg(long = "type", default_value = "8")]
        format_type: String,
        /// Extended type name for type 254 queues.
        #[arg(long)]
        metatype: Option<String>,
        /// Queue uuid to use (a new v4 uuid when absent, invalid or taken).
        #[arg(long)]
        uuid: Option<String>,
        /// Free-text description.
        #[arg(long)]
        description: Option<String>,
        /// Largest number of items kept (default: analyzer_queues_max_size of server.conf).
        #[arg(long)]
        max_size: Option<u64>,
        /// Make it a sensor-group queue receiving only these sensors' data.
        #[arg(long = "sensor")]
        sensors: Vec<String>,
    },
    /// List every queue: uuid, type, length, limit, last update, description.
    List,
    /// Exit 0 if the queue exists, 1 otherwise.
    Exists {
        /// Queue uuid.
        uuid: String,
    },
    /// Empty a queue.
    Flush {
        /// Queue uuid.
        uuid: String,
    },
    /// Remove a queue and its data.
    Remove {
        /// Queue uuid.
        uuid: String,
    },
    /// Write UUID as `[global] my-uuid` of an analyzer.conf, keeping the rest of the file.
    SetAnalyzerUuid {
        /// The analyzer.conf to edit.
        file: PathBuf,
        /// Queue uuid.
        uuid: String,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    d4_core::runtime::init_tracing("warn");
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("d4-queues: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::SetAnalyzerUuid { file, uuid } = &cli.command {
        set_analyzer_uuid(file, uuid)?;
        return Ok(ExitCode::SUCCESS);
    }
    let config = d4_core::runtime::load_server_config(&cli.config)?;
    let meta = Store::connect(&config.redis_metadata, Policy::INTERACTIVE)
        .await
        .context("connecting to Redis_METADATA")?;
    let analyzer = Store::connect(&config.redis_analyzer, Policy::INTERACTIVE)
        .await
        .context("connecting to Redis_ANALYZER")?;
    let queues = Queues::new(meta, analyzer, config.analyzer_queues_max_size);
    match cli.command {
        Command::Create {
            format_type,
            metatype,
            uuid,
            description,
            max_size,
            sensors,
        } => {
            let q = queues
                .create(&NewQueue {
                    format_type,
                    metatype,
                    uuid,
                    sensors,
                    description,
                    max_size,
                })
                .await?;
            println!("{q}");
        }
        Command::List => {
            for q in queues.list().await? {
                println!(
                    "{}\t{:?}\t{}/{}\t{}\t{}",
                    q.uuid,
                    q.kind,
                    q.length,
                    q.size_limit,
                    q.last_updated_text(),
                    q.description
                );
            }
        }
        Command::Exists { uuid } => {
            return Ok(if queues.exists(&uuid).await? {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Flush { uuid } => queues.flush(&uuid).await?,
        Command::Remove { uuid } => queues.remove(&uuid).await?,
        Command::SetAnalyzerUuid { .. } => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Rewrites (or adds) `my-uuid` in the `[global]` section, leaving every other line as is.
fn set_analyzer_uuid(file: &Path, uuid: &str) -> Result<()> {
    if !d4_core::proto::is_valid_uuid_v4_str(uuid) {
        bail!("{uuid:?} is not a v4 uuid");
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    std::fs::write(file, with_my_uuid(&text, uuid))
        .with_context(|| format!("writing {}", file.display()))
}

/// `text` with `[global] my-uuid = <uuid>` set.
fn with_my_uuid(text: &str, uuid: &str) -> String {
    let mut out = Vec::new();
    let mut in_global = false;
    let mut done = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            if in_global && !done {
                out.push(format!("my-uuid = {uuid}"));
                done = true;
            }
            in_global = t == "[global]";
        } else if in_global && !done && !t.starts_with(['#', ';']) {
            let name = t.split(['=', ':']).next().unwrap_or_default().trim();
            if name.eq_ignore_ascii_case("my-uuid") {
                out.push(format!("my-uuid = {uuid}"));
                done = true;
                continue;
            }
        }
        out.push(line.to_string());
    }
    if !done {
        if !in_global {
            out.push("[global]".into());
        }
        out.push(format!("my-uuid = {uuid}"));
    }
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::with_my_uuid;

    const U: &str = "3b6b4a7e-86a5-4c2b-a1c5-2e3f4a5b6c7d";

    #[test]
    fn replaces_existing_value_and_keeps_comments() {
        let t = "[global]\n# c\nmy-uuid = old\nd4-server = x\n[exclude]\nmy-uuid = other\n";
        assert_eq!(
            with_my_uuid(t, U),
            format!("[global]\n# c\nmy-uuid = {U}\nd4-server = x\n[exclude]\nmy-uuid = other\n")
        );
    }

    #[test]
    fn adds_missing_key_or_section() {
        assert_eq!(
            with_my_uuid("[global]\na = 1\n[x]\n", U),
            format!("[global]\na = 1\nmy-uuid = {U}\n[x]\n")
        );
        assert_eq!(
            with_my_uuid("[x]\n", U),
            format!("[x]\n[global]\nmy-uuid = {U}\n")
        );
    }
}

//! Server commands: INFO, CONFIG, DBSIZE/FLUSHDB/FLUSHALL/SWAPDB, persistence triggers
//! (SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE), TIME, SHUTDOWN, FUNCTION and MEMORY stubs, and
//! the OBJECT and DEBUG subcommands test suites rely on.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::ctx::{tri, Ctx, Nested};
use super::spec::{spec, Spec, ADMIN, FAST, NOMULTI, PROTECTED, READONLY, WRITE};
use crate::config::runtime_refusal;
use crate::keyspace::{now_ms, Value};
use crate::persistence::status::Target;
use crate::persistence::{parse_file, serialize};
use crate::protocol::args::{is, parse_f64, parse_i64, syntax, unknown_subcommand};
use crate::protocol::reply::{Reply, OK};
use crate::util::glob;

/// The Redis version d4-kv reports (the command set and error texts it follows).
pub(crate) const REDIS_VERSION: &str = "7.0.15";

/// Commands of this family.
pub(crate) static SPECS: &[Spec] = &[
    spec!("info", -1, 0, (0, 0, 0), info),
    spec!("config", -2, ADMIN, (0, 0, 0), config),
    spec!("dbsize", 1, READONLY | FAST, (0, 0, 0), dbsize),
    spec!("flushdb", -1, WRITE, (0, 0, 0), flushdb),
    spec!("flushall", -1, WRITE, (0, 0, 0), flushall),
    spec!("swapdb", 3, WRITE | FAST, (0, 0, 0), swapdb),
    spec!("save", 1, ADMIN, (0, 0, 0), save),
    spec!("bgsave", -1, ADMIN, (0, 0, 0), bgsave),
    spec!("bgrewriteaof", 1, ADMIN, (0, 0, 0), bgrewriteaof),
    spec!("lastsave", 1, FAST, (0, 0, 0), lastsave),
    spec!("time", 1, FAST, (0, 0, 0), time),
    spec!("shutdown", -1, ADMIN | NOMULTI, (0, 0, 0), shutdown),
    spec!("object", -2, READONLY, (2, 2, 1), object),
    spec!("debug", -2, ADMIN | PROTECTED, (0, 0, 0), debug),
    spec!("function", -2, WRITE, (0, 0, 0), function),
    spec!("memory", -2, READONLY, (0, 0, 0), memory),
];

/// `MEMORY USAGE key`: an estimate of the bytes the key and its value hold.
fn memory(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "usage" if a.len() == 3 || (a.len() == 5 && is(&a[3], "samples")) => {
            let key_len = a[2].len();
            match ctx.get(&a[2]) {
                Some(e) => Reply::Int((key_len + 48 + e.val.approx_size()) as i64),
                None => Reply::Nil,
            }
        }
        "doctor" => Reply::bulk_str("Sam, I have no memory problems"),
        "usage" => syntax(),
        _ => unknown_subcommand("memory", &a[1]),
    }
}

/// d4-kv has no scripting: `FUNCTION FLUSH` (what test suites and tools send to reset a
/// server) succeeds trivially and `FUNCTION LIST` is empty; loading is refused.
fn function(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    ctx.propagate_none();
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "flush" if a.len() <= 3 => OK,
        "list" => Reply::Array(vec![]),
        "load" | "restore" => Reply::err("d4-kv does not support functions (no scripting engine)"),
        _ => unknown_subcommand("function", &a[1]),
    }
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}G", b / (1024.0 * 1024.0 * 1024.0))
    } else if b >= 1024.0 * 1024.0 {
        format!("{:.2}M", b / (1024.0 * 1024.0))
    } else if b >= 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else {
        format!("{bytes}B")
    }
}

fn info_section(ctx: &mut Ctx, name: &str) -> Option<String> {
    let sh = ctx.shared;
    let cfg = sh.config.read().clone();
    let st = &*ctx.store;
    let up = sh.started.elapsed().as_secs();
    let rss = sh.rss.load(Ordering::Relaxed);
    Some(match name {
        "server" => format!(
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nserver_name:d4-kv\r\nd4kv_version:{}\r\nos:{} {}\r\narch_bits:64\r\nmultiplexing_api:epoll\r\nprocess_id:{}\r\nrun_id:{:040x}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{up}\r\nuptime_in_days:{}\r\nhz:10\r\nexecutable:{}\r\nconfig_file:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::env::consts::ARCH,
            std::process::id(),
            sh.started.elapsed().as_nanos() as u64 ^ std::process::id() as u64,
            sh.port.load(Ordering::Relaxed),
            now_ms() * 1000,
            up / 86400,
            std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
            sh.conf_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        ),
        "clients" => format!(
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\ntracking_clients:0\r\n",
            st.clients.len(),
            cfg.maxclients,
            st.blocking.waiters.len()
        ),
        "memory" => {
            let used = crate::shared::allocated_bytes();
            format!(
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{rss}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_allocator:jemalloc\r\n",
                human(used),
                human(rss),
                cfg.maxmemory,
                human(cfg.maxmemory),
                cfg.maxmemory_policy
            )
        }
        "persistence" => {
            let status = |t| if sh.persist.status.is_failing(t) { "err" } else { "ok" };
            format!(
                "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:{}\r\naof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:0\r\naof_last_bgrewrite_status:ok\r\naof_last_write_status:{}\r\n",
                st.dirty,
                st.last_save,
                status(Target::Snapshot),
                cfg.appendonly as u8,
                sh.persist.rewriting.load(Ordering::Relaxed) as u8,
                status(Target::Aof)
            )
        }
        "stats" => format!(
            "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\n",
            st.stats.connections, st.stats.commands, st.stats.rejected, st.stats.expired, st.stats.hits, st.stats.misses
        ),
        "replication" => "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n".into(),
        "cpu" => "# CPU\r\n".into(),
        "keyspace" => {
            let mut s = String::from("# Keyspace\r\n");
            for (i, db) in st.dbs.iter().enumerate() {
                if !db.is_empty() {
                    s.push_str(&format!("db{i}:keys={},expires={},avg_ttl=0\r\n", db.len(), db.expires()));
                }
            }
            s
        }
        _ => return None,
    })
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "keyspace",
];

fn info(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let asked: Vec<String> = a[1..]
        .iter()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    let all_sections = asked.is_empty()
        || asked
            .iter()
            .any(|s| s == "all" || s == "everything" || s == "default");
    let names: Vec<&str> = if all_sections {
        DEFAULT_SECTIONS.to_vec()
    } else {
        asked.iter().map(String::as_str).collect()
    };
    let mut parts = Vec::new();
    for n in names {
        if let Some(s) = info_section(ctx, n) {
            parts.push(s);
        }
    }
    Reply::bulk(parts.join("\r\n"))
}

fn config(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "get" if a.len() >= 3 => {
            let cfg = ctx.shared.config.read();
            let mut out = Vec::new();
            for name in cfg.names() {
                if a[2..]
                    .iter()
                    .any(|p| glob::matches_nocase(p, name.as_bytes()))
                {
                    let v = cfg.get(&name).unwrap_or_default();
                    out.push((Reply::bulk(name), Reply::bulk(v)));
                }
            }
            Reply::Map(out)
        }
        "set" if a.len() >= 4 && a.len().is_multiple_of(2) => config_set(ctx, &a[2..]),
        "resetstat" if a.len() == 2 => {
            ctx.store.stats = Default::default();
            OK
        }
        "rewrite" if a.len() == 2 => Reply::err("CONFIG REWRITE is not supported by d4-kv"),
        "get" | "set" | "resetstat" | "rewrite" => Reply::err(format!(
            "wrong number of arguments for 'config|{sub}' command"
        )),
        _ => unknown_subcommand("config", &a[1]),
    }
}

/// `CONFIG SET`: all pairs or none. Options that only take effect at start-up, and
/// protected ones (`dir`, `dbfilename`), are refused with Redis 7's texts.
fn config_set(ctx: &mut Ctx, pairs: &[Bytes]) -> Reply {
    let mut cfg = ctx.shared.config.read().clone();
    let peer = ctx.client.peer_ip();
    let protected_ok = cfg.enable_protected_configs.allows(peer);
    let mut notes = Vec::new();
    for kv in pairs.chunks(2) {
        let name = String::from_utf8_lossy(&kv[0]).to_ascii_lowercase();
        let val = String::from_utf8_lossy(&kv[1]).into_owned();
        if cfg.get(&name).is_none() {
            return Reply::err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
            ));
        }
        if let Some(why) = runtime_refusal(&name, protected_ok) {
            return Reply::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ));
        }
        if let Err(e) = cfg.set(&name, &[val], "CONFIG SET", &mut notes) {
            return Reply::err(format!(
                "CONFIG SET failed (possibly related to argument '{name}') - {e}"
            ));
        }
    }
    let old = ctx.shared.config.read().clone();
    if cfg.appendonly != old.appendonly {
        if cfg.appendonly {
            if let Err(e) = ctx.shared.persist.ensure_open() {
                return Reply::err(format!(
                    "CONFIG SET failed (possibly related to argument 'appendonly') - {e}"
                ));
            }
            ctx.store.rewrite_requested = true;
        }
        ctx.store.aof.enabled = cfg.appendonly;
    }
    *ctx.shared.persist.fsync.lock() = cfg.appendfsync;
    ctx.shared.set_config(cfg);
    OK
}

fn dbsize(ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    Reply::Int(ctx.db().len() as i64)
}

fn flush_opt(a: &[Bytes]) -> Result<(), Reply> {
    match a.len() {
        1 => Ok(()),
        2 if is(&a[1], "async") || is(&a[1], "sync") => Ok(()),
        _ => Err(syntax()),
    }
}

fn flushdb(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    tri!(flush_opt(a));
    ctx.db().clear();
    OK
}

fn flushall(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    tri!(flush_opt(a));
    ctx.store.dbs.iter_mut().for_each(|d| d.clear());
    OK
}

fn swapdb(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let n = ctx.store.dbs.len() as i64;
    let (Some(x), Some(y)) = (parse_i64(&a[1]), parse_i64(&a[2])) else {
        return Reply::err("invalid first DB index");
    };
    if !(0..n).contains(&x) || !(0..n).contains(&y) {
        return Reply::err("DB index is out of range");
    }
    ctx.store.dbs.swap(x as usize, y as usize);
    // Clients blocked on keys of either database may now find data.
    let now = ctx.expiry_now();
    let waiting: Vec<(usize, Bytes)> = ctx.store.blocking.by_key.keys().cloned().collect();
    for (db, key) in waiting {
        if (db == x as usize || db == y as usize) && ctx.store.dbs[db].get(&key, now).is_some() {
            ctx.store.blocking.signal(db, &key);
        }
    }
    OK
}

fn save(ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    let data = serialize(ctx.store);
    match ctx.shared.persist.write_snapshot(&data) {
        Ok(()) => {
            ctx.store.dirty = 0;
            ctx.store.last_save = now_ms() / 1000;
            OK
        }
        Err(e) => Reply::err(format!("snapshot failed: {e}")),
    }
}

fn bgsave(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    if a.len() > 2 || (a.len() == 2 && !is(&a[1], "schedule")) {
        return syntax();
    }
    ctx.store.bgsave_requested = true;
    Reply::Status("Background saving started")
}

fn bgrewriteaof(ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    if !ctx.shared.config.read().appendonly {
        return Reply::err(
            "Append only file is disabled (appendonly no); use BGSAVE for a snapshot",
        );
    }
    ctx.store.rewrite_requested = true;
    Reply::Status("Background append only file rewriting started")
}

fn lastsave(ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    Reply::Int(ctx.store.last_save as i64)
}

fn time(_ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Reply::Array(vec![
        Reply::bulk(d.as_secs().to_string()),
        Reply::bulk(d.subsec_micros().to_string()),
    ])
}

fn shutdown(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let mut mode = 0;
    for o in &a[1..] {
        if is(o, "nosave") {
            mode = 2;
        } else if is(o, "save") {
            mode = 1;
        } else if !(is(o, "now") || is(o, "force")) {
            return syntax();
        }
    }
    ctx.shared.shutdown_save.store(mode, Ordering::SeqCst);
    ctx.shared.stop();
    ctx.client.close = true;
    ctx.client.skip_reply = true;
    OK
}

/// Our real representation per type, in Redis's encoding vocabulary.
fn encoding(v: &Value) -> &'static str {
    match v {
        Value::Str(s) if s.len() <= 20 && parse_i64(s).is_some() => "int",
        Value::Str(s) if s.len() <= 44 => "embstr",
        Value::Str(_) => "raw",
        Value::List(_) => "quicklist",
        Value::Set(_) => "hashtable",
        Value::Hash(_) => "hashtable",
        Value::ZSet(_) => "skiplist",
        Value::Stream(_) => "stream",
    }
}

fn object(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    if a.len() != 3 {
        return match sub.as_str() {
            "help" => Reply::Array(vec![Reply::Status("OBJECT ENCODING <key>")]),
            _ => Reply::err(format!(
                "wrong number of arguments for 'object|{sub}' command"
            )),
        };
    }
    let Some(e) = ctx.get(&a[2]) else {
        return Reply::Nil;
    };
    match sub.as_str() {
        "encoding" => Reply::bulk_str(encoding(&e.val)),
        "refcount" => Reply::Int(1),
        "idletime" => Reply::Int(0),
        "freq" => Reply::err("An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."),
        _ => unknown_subcommand("object", &a[1]),
    }
}

fn debug(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    match sub.as_str() {
        "sleep" if a.len() == 3 => {
            let secs = parse_f64(&a[2]).unwrap_or(0.0).clamp(0.0, 60.0);
            std::thread::sleep(std::time::Duration::from_secs_f64(secs));
            OK
        }
        "reload" => {
            let data = serialize(ctx.store);
            let Ok((cmds, _)) = parse_file(std::path::Path::new("DEBUG RELOAD"), &data) else {
                return Reply::err("reload failed");
            };
            ctx.store.dbs.iter_mut().for_each(|d| d.clear());
            ctx.nested = Some(Nested::Reload(cmds));
            OK
        }
        "jmap"
        | "set-active-expire"
        | "change-repl-id"
        | "quicklist-packed-threshold"
        | "stringmatch-len" => OK,
        _ => unknown_subcommand("debug", &a[1]),
    }
}

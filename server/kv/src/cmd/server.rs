//! Connection and server commands: PING/ECHO/SELECT/AUTH/HELLO/QUIT/RESET, CLIENT,
//! MULTI/EXEC/DISCARD, INFO, CONFIG, COMMAND, DBSIZE/FLUSHDB/FLUSHALL/SWAPDB, persistence
//! triggers (SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE), TIME, SHUTDOWN, and the OBJECT and
//! DEBUG subcommands test suites rely on.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{
    all, lookup, unknown_subcommand, Ctx, Spec, ADMIN, FAST, NOAUTH, NOMULTI, READONLY, WRITE,
};
use crate::args::{arity, int, is, syntax};
use crate::glob;
use crate::reply::{Reply, OK};
use crate::store::{now_ms, Value};
use crate::{spec, tri};

/// Commands of this family.
pub static SPECS: &[Spec] = &[
    spec!("ping", -1, FAST, (0, 0, 0), ping),
    spec!("echo", 2, FAST, (0, 0, 0), echo),
    spec!("select", 2, FAST, (0, 0, 0), select),
    spec!("auth", -2, NOAUTH | FAST | NOMULTI, (0, 0, 0), auth),
    spec!("hello", -1, NOAUTH | FAST | NOMULTI, (0, 0, 0), hello),
    spec!("quit", -1, NOAUTH | FAST | NOMULTI, (0, 0, 0), quit),
    spec!("reset", 1, NOAUTH | FAST | NOMULTI, (0, 0, 0), reset),
    spec!("client", -2, 0, (0, 0, 0), client),
    spec!("multi", 1, FAST | NOMULTI, (0, 0, 0), multi),
    spec!("exec", 1, NOMULTI, (0, 0, 0), exec),
    spec!("discard", 1, FAST | NOMULTI, (0, 0, 0), discard),
    spec!("info", -1, 0, (0, 0, 0), info),
    spec!("config", -2, ADMIN, (0, 0, 0), config),
    spec!("command", -1, 0, (0, 0, 0), command),
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
    spec!("debug", -2, ADMIN, (0, 0, 0), debug),
    spec!("function", -2, WRITE, (0, 0, 0), function),
    spec!("memory", -2, READONLY, (0, 0, 0), memory),
    spec!("watch", -2, FAST | NOMULTI, (1, -1, 1), watch),
    spec!("unwatch", 1, FAST | NOMULTI, (0, 0, 0), unwatch),
];

fn watch(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    if ctx.client.multi.is_some() {
        return Reply::err("WATCH inside MULTI is not allowed");
    }
    let db = ctx.client.db;
    for k in &a[1..] {
        if ctx
            .client
            .watching
            .iter()
            .any(|(d, w, _)| *d == db && w == k)
        {
            continue;
        }
        let existed = ctx.get(k).is_some();
        ctx.store.watches.watch(ctx.client.id, db, k.clone());
        ctx.client.watching.push((db, k.clone(), existed));
    }
    OK
}

/// Drops all of the client's watches.
fn unwatch_all(ctx: &mut Ctx) {
    let keys = std::mem::take(&mut ctx.client.watching);
    ctx.store.watches.unwatch(ctx.client.id, &keys);
}

fn unwatch(ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    unwatch_all(ctx);
    OK
}

/// True when a watched key changed (touched, or existed at WATCH and is gone now).
fn watch_broken(ctx: &mut Ctx) -> bool {
    if ctx.store.watches.is_broken(ctx.client.id) {
        return true;
    }
    let now = ctx.expiry_now();
    let watched = ctx.client.watching.clone();
    watched
        .iter()
        .any(|(db, k, existed)| *existed && ctx.store.dbs[*db].peek(k, now).is_none())
}

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

fn ping(_ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    match a.len() {
        1 => Reply::Status("PONG"),
        2 => Reply::Bulk(a[1].clone()),
        _ => arity("ping"),
    }
}

fn echo(_ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    Reply::Bulk(a[1].clone())
}

fn select(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let n = tri!(int(&a[1]));
    if n < 0 || n as usize >= ctx.store.dbs.len() {
        return Reply::err("DB index is out of range");
    }
    ctx.client.db = n as usize;
    OK
}

fn check_password(ctx: &mut Ctx, user: &[u8], pass: &[u8]) -> Reply {
    let want = ctx.shared.config.read().requirepass.clone();
    let ok = user == b"default" && want.as_deref().is_none_or(|w| w.as_bytes() == pass);
    if ok {
        ctx.client.authed = true;
        OK
    } else {
        Reply::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    }
}

fn auth(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    if a.len() > 3 {
        return syntax();
    }
    if a.len() == 2 && ctx.shared.config.read().requirepass.is_none() {
        return Reply::err("AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
    }
    let (user, pass) = if a.len() == 3 {
        (&a[1][..], &a[2][..])
    } else {
        (&b"default"[..], &a[1][..])
    };
    check_password(ctx, user, pass)
}

fn hello(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let mut proto = None;
    let mut i = 1;
    if a.len() > 1 {
        match crate::args::parse_i64(&a[1]) {
            Some(p) if p == 2 || p == 3 => proto = Some(p),
            Some(_) => return Reply::Error("NOPROTO unsupported protocol version".into()),
            None => return Reply::err("Protocol version is not an integer or out of range"),
        }
        i = 2;
    }
    let mut name = None;
    while i < a.len() {
        if is(&a[i], "auth") && i + 2 < a.len() {
            let r = check_password(ctx, &a[i + 1], &a[i + 2]);
            if r.is_error() {
                return r;
            }
            i += 3;
        } else if is(&a[i], "setname") && i + 1 < a.len() {
            name = Some(a[i + 1].clone());
            i += 2;
        } else {
            return Reply::err(format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&a[i])
            ));
        }
    }
    if !ctx.client.authed {
        return Reply::Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into());
    }
    if let Some(n) = name {
        let r = set_name(ctx, &n);
        if r.is_error() {
            return r;
        }
    }
    if let Some(p) = proto {
        ctx.client.resp3 = p == 3;
        ctx.client.info.resp = p as u8;
        sync_info(ctx);
    }
    let s = |x: &str| Reply::bulk_str(x);
    Reply::Map(vec![
        (s("server"), s("redis")),
        (s("version"), s(REDIS_VERSION)),
        (s("proto"), Reply::Int(if ctx.client.resp3 { 3 } else { 2 })),
        (s("id"), Reply::Int(ctx.client.id as i64)),
        (s("mode"), s("standalone")),
        (s("role"), s("master")),
        (s("modules"), Reply::Array(vec![])),
    ])
}

/// The Redis version d4-kv reports (the command set and error texts it follows).
pub const REDIS_VERSION: &str = "7.0.15";

fn quit(ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    ctx.client.close = true;
    OK
}

fn reset(ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    unwatch_all(ctx);
    ctx.client.multi = None;
    ctx.client.multi_error = false;
    ctx.client.db = 0;
    ctx.client.resp3 = false;
    ctx.client.info.resp = 2;
    ctx.client.info.name.clear();
    ctx.client.authed = ctx.shared.config.read().requirepass.is_none();
    sync_info(ctx);
    Reply::Status("RESET")
}

fn sync_info(ctx: &mut Ctx) {
    let info = ctx.client.info.clone();
    ctx.store.clients.insert(ctx.client.id, info);
}

fn set_name(ctx: &mut Ctx, n: &[u8]) -> Reply {
    if n.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Reply::err("Client names cannot contain spaces, newlines or special characters.");
    }
    ctx.client.info.name = String::from_utf8_lossy(n).into_owned();
    sync_info(ctx);
    OK
}

fn client_line(id: u64, c: &crate::client::ClientInfo, now: u64) -> String {
    format!(
        "id={id} addr={} laddr={} fd=8 name={} age={} idle=0 flags={} db={} sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user=default redir=-1 resp={} lib-name={} lib-ver={}\n",
        c.addr,
        c.laddr,
        c.name,
        now.saturating_sub(c.since) / 1000,
        if c.blocked { "b" } else { "N" },
        c.db,
        if c.last_cmd.is_empty() { "NULL" } else { &c.last_cmd },
        c.resp,
        c.lib_name,
        c.lib_ver
    )
}

fn client(ctx: &mut Ctx, a: &[Bytes]) -> Reply {
    let sub = String::from_utf8_lossy(&a[1]).to_ascii_lowercase();
    let n = a.len();
    let bad_arity = || {
        Reply::err(format!(
            "wrong number of arguments for 'client|{sub}' command"
        ))
    };
    match sub.as_str() {
        "setname" if n == 3 => set_name(ctx, &a[2]),
        "getname" if n == 2 => {
            let name = &ctx.client.info.name;
            if name.is_empty() {
                Reply::Nil
            } else {
                Reply::bulk_str(name)
            }
        }
        "id" if n == 2 => Reply::Int(ctx.client.id as i64),
        "setinfo" if n == 4 => {
            let v = String::from_utf8_lossy(&a[3]).into_owned();
            if v.chars().any(|c| c == ' ' || c == '\n') {
                return Reply::err(format!(
                    "{} cannot contain spaces, newlines or special characters.",
                    String::from_utf8_lossy(&a[2]).to_ascii_uppercase()
                ));
            }
            if is(&a[2], "lib-name") {
                ctx.client.info.lib_name = v;
            } else if is(&a[2], "lib-ver") {
                ctx.client.info.lib_ver = v;
            } else {
                return Reply::err(format!(
                    "Unrecognized option '{}'",
                    String::from_utf8_lossy(&a[2])
                ));
            }
            sync_info(ctx);
            OK
        }
        "list" => {
            let now = now_ms();
            let mut ids: Vec<_> = ctx.store.clients.keys().copied().collect();
            ids.sort_unstable();
            let text: String = ids
                .iter()
                .filter_map(|id| ctx.store.clients.get(id).map(|c| client_line(*id, c, now)))
                .collect();
            Reply::bulk(text)
        }
        "info" if n == 2 => {
            let c = ctx
                .store
                .clients
                .get(&ctx.client.id)
                .cloned()
                .unwrap_or_else(|| ctx.client.info.clone());
            Reply::bulk(client_line(ctx.client.id, &c, now_ms()))
        }
        "no-evict" | "no-touch" if n == 3 => OK,
        "unblock" if n == 3 || n == 4 => {
            let Some(id) = crate::args::parse_i64(&a[2]) else {
                return crate::args::not_int();
            };
            let error = match a.get(3) {
                None => None,
                Some(m) if is(m, "timeout") => None,
                Some(m) if is(m, "error") => Some(Reply::Error(
                    "UNBLOCKED client unblocked via CLIENT UNBLOCK".into(),
                )),
                Some(_) => return Reply::err("CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
            };
            Reply::Int(ctx.store.blocking.unblock_client(id as u64, error) as i64)
        }
        "reply" if n == 3 && is(&a[2], "on") => OK,
        "help" => Reply::Array(
            [
                "CLIENT <subcommand>",
                "SETNAME <name>",
                "GETNAME",
                "ID",
                "SETINFO <LIB-NAME|LIB-VER> <value>",
                "LIST",
                "INFO",
            ]
            .iter()
            .map(|s| Reply::StatusOwned(s.to_string()))
            .collect(),
        ),
        "setname" | "getname" | "id" | "setinfo" | "info" | "no-evict" | "no-touch" => bad_arity(),
        _ => unknown_subcommand("client", &a[1]),
    }
}

fn multi(ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    if ctx.client.multi.is_some() {
        return Reply::err("MULTI calls can not be nested");
    }
    ctx.client.multi = Some(Vec::new());
    ctx.client.multi_error = false;
    OK
}

fn discard(ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    if ctx.client.multi.take().is_none() {
        return Reply::err("DISCARD without MULTI");
    }
    unwatch_all(ctx);
    ctx.client.multi_error = false;
    OK
}

fn exec(ctx: &mut Ctx, _a: &[Bytes]) -> Reply {
    let Some(queue) = ctx.client.multi.take() else {
        return Reply::err("EXEC without MULTI");
    };
    if std::mem::take(&mut ctx.client.multi_error) {
        unwatch_all(ctx);
        return Reply::Error("EXECABORT Transaction discarded because of previous errors.".into());
    }
    let broken = watch_broken(ctx);
    unwatch_all(ctx);
    if broken {
        return Reply::NilArray;
    }
    let db = ctx.client.db;
    let mark = ctx.store.aof.mark();
    ctx.store.aof.push(db, &[Bytes::from_static(b"MULTI")]);
    let after_multi = ctx.store.aof.seq;
    let was = std::mem::replace(&mut ctx.in_exec, true);
    let mut out = Vec::with_capacity(queue.len());
    for a in &queue {
        match lookup(&a[0]) {
            Some(spec) => out.push(super::run(ctx, spec, a)),
            None => out.push(super::unknown_command(a)),
        }
    }
    ctx.in_exec = was;
    if ctx.store.aof.seq == after_multi {
        ctx.store.aof.rollback(mark);
    } else {
        let db = ctx.client.db;
        ctx.store.aof.push(db, &[Bytes::from_static(b"EXEC")]);
    }
    Reply::Array(out)
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
            let used: usize = st.dbs.iter().map(|d| d.approx_size()).sum::<usize>() + 1024 * 1024;
            format!(
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{rss}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_allocator:libc\r\n",
                human(used as u64),
                human(rss),
                cfg.maxmemory,
                human(cfg.maxmemory),
                cfg.maxmemory_policy
            )
        }
        "persistence" => {
            let f = sh.persist.file.lock();
            format!(
                "# Persistence\r\nloading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\naof_enabled:{}\r\naof_rewrite_in_progress:{}\r\naof_rewrite_scheduled:0\r\naof_last_bgrewrite_status:ok\r\naof_last_write_status:{}\r\n",
                st.dirty,
                st.last_save,
                cfg.appendonly as u8,
                sh.persist.rewriting.load(Ordering::Relaxed) as u8,
                if f.last_error.is_some() { "err" } else { "ok" }
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

fn config_set(ctx: &mut Ctx, pairs: &[Bytes]) -> Reply {
    const STARTUP_ONLY: &[&str] = &[
        "port",
        "bind",
        "databases",
        "daemonize",
        "pidfile",
        "logfile",
        "dbfilename",
        "appendfilename",
    ];
    let mut cfg = ctx.shared.config.read().clone();
    let mut notes = Vec::new();
    for kv in pairs.chunks(2) {
        let name = String::from_utf8_lossy(&kv[0]).to_ascii_lowercase();
        let val = String::from_utf8_lossy(&kv[1]).into_owned();
        if STARTUP_ONLY.contains(&name.as_str()) || cfg.get(&name).is_none() {
            return Reply::err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{name}'"
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

fn command_entry(s: &Spec) -> Reply {
    use super::{BLOCKING, DENYOOM};
    let mut flags = Vec::new();
    for (bit, name) in [
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (FAST, "fast"),
        (BLOCKING, "blocking"),
        (NOAUTH, "no_auth"),
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
    let (Some(x), Some(y)) = (crate::args::parse_i64(&a[1]), crate::args::parse_i64(&a[2])) else {
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
    let data = crate::aof::serialize(ctx.store);
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
        Value::Str(s) if s.len() <= 20 && crate::args::parse_i64(s).is_some() => "int",
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
            let secs = crate::args::parse_f64(&a[2])
                .unwrap_or(0.0)
                .clamp(0.0, 60.0);
            std::thread::sleep(std::time::Duration::from_secs_f64(secs));
            OK
        }
        "reload" => {
            let data = crate::aof::serialize(ctx.store);
            let Ok((cmds, _)) = crate::aof::parse_file(std::path::Path::new("DEBUG RELOAD"), &data)
            else {
                return Reply::err("reload failed");
            };
            ctx.store.dbs.iter_mut().for_each(|d| d.clear());
            let (db, enabled) = (ctx.client.db, ctx.store.aof.enabled);
            ctx.store.aof.enabled = false;
            ctx.store.loading = true;
            for c in cmds {
                if let Some(spec) = lookup(&c[0]) {
                    super::run(ctx, spec, &c);
                }
            }
            ctx.store.loading = false;
            ctx.store.aof.enabled = enabled;
            ctx.client.db = db;
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

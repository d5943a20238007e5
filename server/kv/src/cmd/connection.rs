//! Connection commands: PING, ECHO, SELECT, AUTH, HELLO (RESP2/RESP3 switch), QUIT,
//! RESET and CLIENT (names, info, list, unblock).

use bytes::Bytes;

use super::ctx::{tri, Ctx};
use super::spec::{spec, Spec, FAST, NOAUTH, NOMULTI};
use super::transactions::unwatch_all;
use crate::keyspace::clients::ClientInfo;
use crate::keyspace::now_ms;
use crate::protocol::args::{arity, int, is, not_int, parse_i64, syntax, unknown_subcommand};
use crate::protocol::reply::{Reply, OK};

/// Commands of this family.
pub(crate) static SPECS: &[Spec] = &[
    spec!("ping", -1, FAST, (0, 0, 0), ping),
    spec!("echo", 2, FAST, (0, 0, 0), echo),
    spec!("select", 2, FAST, (0, 0, 0), select),
    spec!("auth", -2, NOAUTH | FAST | NOMULTI, (0, 0, 0), auth),
    spec!("hello", -1, NOAUTH | FAST | NOMULTI, (0, 0, 0), hello),
    spec!("quit", -1, NOAUTH | FAST | NOMULTI, (0, 0, 0), quit),
    spec!("reset", 1, NOAUTH | FAST | NOMULTI, (0, 0, 0), reset),
    spec!("client", -2, 0, (0, 0, 0), client),
];

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
        match parse_i64(&a[1]) {
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
pub(crate) const REDIS_VERSION: &str = "7.0.15";

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

fn client_line(id: u64, c: &ClientInfo, now: u64) -> String {
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
            let Some(id) = parse_i64(&a[2]) else {
                return not_int();
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

//! Store-facade benchmark for `tests/bench/cluster/run.sh`: the pDNS write shape (pipelines
//! of `SET`/`SADD`/`INCR`/`EXPIRE` over many keys), `MGET` of 1,000 keys, and single `GET`
//! round trips, against one server or a cluster. Prints one line: commands/s of the
//! pipelines, µs of this process's CPU per pipelined command, µs per `MGET` and per `GET`.
//!
//! The endpoint is a `[store]` INI section (`host`/`port`, or `cluster = host:port,...`), read
//! with the facade's own parser, so the same source builds against older facades (the
//! before/after comparison of run.sh).

use std::time::Instant;

use d4_core::config::{Ini, Reader, RedisEndpoint};
use d4_core::store::{cmd, pipe, Policy, Store, Value};

/// This process's user + system CPU time in seconds (`/proc/self/stat`).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    // Fields after the command name: state(skipped, not a number) ppid ... utime is field 14.
    let (utime, stime) = (
        f.get(10).copied().unwrap_or(0.0),
        f.get(11).copied().unwrap_or(0.0),
    );
    (utime + stime) / 100.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let section = args.next().unwrap_or_else(|| "port = 6379".into());
    let pipelines: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let gets: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5000);
    let ini = Ini::parse(&format!(
        "[store]\nhost = 127.0.0.1\n{}\n",
        section.replace(';', "\n")
    ))?;
    let ep = RedisEndpoint::read(&Reader::new(&ini), "store", 6379, 0)?;
    let store = Store::connect(&ep, Policy::DAEMON).await?;

    let (t, c) = (Instant::now(), cpu_seconds());
    for p in 0..pipelines {
        let mut w = pipe();
        for i in 0..size / 4 {
            let k = (p * 7919 + i * 104_729) % 200_000;
            w.cmd("SET").arg(format!("b:s:{k}")).arg(p).ignore();
            w.cmd("SADD")
                .arg(format!("b:r:{}", k % 5000))
                .arg(k)
                .ignore();
            w.cmd("INCR").arg(format!("b:o:{k}")).ignore();
            w.cmd("EXPIRE")
                .arg(format!("b:r:{}", k % 5000))
                .arg(86400)
                .ignore();
        }
        let () = store.run(&w).await?;
    }
    let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - c);
    let commands = (pipelines * (size / 4) * 4) as f64;

    let keys: Vec<String> = (0..1000).map(|k| format!("b:s:{}", k * 97)).collect();
    let rounds = 200;
    let t = Instant::now();
    for _ in 0..rounds {
        let v: Vec<Value> = store.query(cmd("MGET").arg(&keys[..])).await?;
        assert_eq!(v.len(), keys.len());
    }
    let mget_us = t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);

    let t = Instant::now();
    for i in 0..gets {
        let _: Option<String> = store
            .query(cmd("GET").arg(format!("b:s:{}", i * 13)))
            .await?;
    }
    let get_us = t.elapsed().as_secs_f64() * 1e6 / gets as f64;

    println!(
        "pipelined {:.0} cmd/s  client CPU {:.2} us/cmd  MGET(1000) {:.0} us  GET {:.1} us",
        commands / wall,
        cpu * 1e6 / commands,
        mget_us,
        get_us
    );
    Ok(())
}

//! Side-by-side benchmark of the two Rust Redis clients the project has used, on the
//! workload that decided between them: the COF server's query shape (one pipeline of 8
//! `SMEMBERS` for the served types, then one `MGET` of the record keys), from 16
//! concurrent requests sharing one multiplexed connection, against one real
//! `redis-server`, in the same run, rounds alternating which client goes first.
//!
//! Prints, per client: queries/s, client CPU µs per query (this process, from
//! `/proc/self/stat`) and server CPU µs per query (`/proc/<redis pid>/stat`).
//!
//! `cargo run --release -p d4-testkit --example client_bench -- [seconds] [rounds]`
//! (or `tests/bench/client/run.sh`). `fred` appears here only, as the reference: every
//! component talks through `d4_core::store` (redis-rs).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 16;
const NAMES: usize = 1_000;
const TYPES: [u16; 8] = [1, 2, 5, 15, 16, 28, 33, 12];

/// One query of either client: the two pipelines of a COF name lookup.
trait Client: Clone + Send + Sync + 'static {
    fn query(&self, name: usize) -> impl std::future::Future<Output = usize> + Send;
}

#[derive(Clone)]
struct RedisRs(redis::aio::MultiplexedConnection);

impl Client for RedisRs {
    async fn query(&self, name: usize) -> usize {
        let mut c = self.0.clone();
        let mut p = redis::pipe();
        for t in TYPES {
            p.smembers(format!("r:host{name}.bench:{t}"));
        }
        let sets: Vec<Vec<String>> = p.query_async(&mut c).await.expect("smembers");
        let keys = record_keys(name, &sets);
        let vals: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut c)
            .await
            .expect("mget");
        vals.len()
    }
}

#[derive(Clone)]
struct Fred(fred::clients::Client);

impl Client for Fred {
    async fn query(&self, name: usize) -> usize {
        use fred::prelude::*;
        let p = self.0.pipeline();
        for t in TYPES {
            let _: () = p
                .smembers(format!("r:host{name}.bench:{t}"))
                .await
                .expect("queue");
        }
        let sets: Vec<Vec<String>> = p.all().await.expect("smembers");
        let keys = record_keys(name, &sets);
        let vals: Vec<Option<String>> = self.0.mget(keys).await.expect("mget");
        vals.len()
    }
}

/// The `s:`/`l:`/`o:` keys of every record found (3 per value, as the COF server reads).
fn record_keys(name: usize, sets: &[Vec<String>]) -> Vec<String> {
    let mut keys = Vec::new();
    for (t, vals) in TYPES.iter().zip(sets) {
        for v in vals {
            for p in ["s", "l", "o"] {
                keys.push(format!("{p}:host{name}.bench:{v}:{t}"));
            }
        }
    }
    keys
}

/// CPU ticks (user + system) of a process.
fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

/// Runs `CONCURRENCY` request loops for `secs`; returns (queries, client µs, server µs).
async fn round<C: Client>(c: C, secs: u64, server_pid: &str) -> (u64, f64, f64) {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let (c0, s0) = (cpu_ticks("self"), cpu_ticks(server_pid));
    let mut tasks = Vec::new();
    for i in 0..CONCURRENCY {
        let (c, done) = (c.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = i;
            while Instant::now() < deadline {
                assert!(c.query(n % NAMES).await > 0, "records expected");
                done.fetch_add(1, Ordering::Relaxed);
                n += CONCURRENCY;
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let q = done.load(Ordering::Relaxed).max(1);
    let tick_us = 1e6 / 100.0; // USER_HZ
    let client = (cpu_ticks("self") - c0) as f64 * tick_us / q as f64;
    let server = (cpu_ticks(server_pid) - s0) as f64 * tick_us / q as f64;
    (q, client, server)
}

/// Fills the store: per name, 2 types with 1-2 values each and their s/l/o keys.
fn fill(store: &d4_testkit::Store) {
    let mut script = String::new();
    for n in 0..NAMES {
        for (i, t) in TYPES.iter().take(2).enumerate() {
            for v in 0..=i {
                let val = format!("10.0.{}.{v}", n % 250);
                script.push_str(&format!("SADD r:host{n}.bench:{t} {val}\n"));
                for p in ["s", "l", "o"] {
                    script.push_str(&format!("SET {p}:host{n}.bench:{val}:{t} 1700000000\n"));
                }
            }
        }
    }
    let mut cli = std::process::Command::new("redis-cli")
        .args(["-p", &store.port.to_string(), "--pipe"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-cli");
    use std::io::Write;
    let mut stdin = cli.stdin.take().expect("stdin");
    stdin.write_all(script.as_bytes()).expect("pipe");
    drop(stdin);
    assert!(cli.wait().expect("redis-cli").success());
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let secs = args.first().copied().unwrap_or(4);
    let rounds = args.get(1).copied().unwrap_or(3);
    let store = d4_testkit::Store::start_kind(d4_testkit::StoreKind::Redis).expect("redis-server");
    fill(&store);
    let pid = store.proc.pid().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let url = store.url(0);
        let rr = RedisRs(
            redis::Client::open(url.as_str())
                .expect("url")
                .get_multiplexed_async_connection()
                .await
                .expect("redis-rs connects"),
        );
        let fr = {
            use fred::prelude::*;
            let c = Builder::from_config(Config::from_url(&url).expect("url"))
                .build()
                .expect("fred");
            c.init().await.expect("fred connects");
            Fred(c)
        };
        let mut res: [(Vec<f64>, Vec<f64>, Vec<f64>); 2] = Default::default();
        for r in 0..rounds {
            for which in [r % 2, 1 - r % 2] {
                let (q, c, s) = if which == 0 {
                    round(rr.clone(), secs, &pid).await
                } else {
                    round(fr.clone(), secs, &pid).await
                };
                let e = &mut res[which as usize];
                e.0.push(q as f64 / secs as f64);
                e.1.push(c);
                e.2.push(s);
            }
        }
        println!(
            "client bench: COF query shape (8 SMEMBERS pipeline + MGET), {CONCURRENCY} concurrent, \
             one multiplexed connection, redis-server, medians of {rounds} x {secs}s"
        );
        for (name, (q, c, s)) in ["redis-rs", "fred"].iter().zip(res) {
            println!(
                "{name:>9}: {:>8.0} q/s | client CPU {:>5.1} us/query | server CPU {:>5.1} us/query",
                median(q),
                median(c),
                median(s)
            );
        }
    });
}

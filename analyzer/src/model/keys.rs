//! Every Redis key name the passive DNS analyzer reads or writes, and nothing else.
//!
//! pDNS store (spec `pdns.md` §1.5, db 0 of the store on port 6400 by default): `r:`, `v:`, `s:`,
//! `l:`, `o:`, `dist:*`, `stats:*`, `sensors:seen`. D4 side (spec `d4-core-server.md` §3.3,
//! Redis_ANALYZER db 2): the type-8 analyzer queue `analyzer:8:<queue-uuid>` and, d4-rs addition,
//! the ingestion's processing list `analyzer:8:<queue-uuid>:processing:<ingestion-id>`.
//!
//! Keys are plain `:`-joined strings; names or answers may themselves contain `:` (IPv6) so keys
//! are only ever built, never parsed.

/// The D4 analyzer queue this ingestion pops: `analyzer:8:<uuid>` on db 2 of the D4 server
/// (spec `d4-core-server.md` §3.3; the D4 server's own key module formats the same name).
pub fn queue(uuid: &str) -> String {
    format!("analyzer:8:{uuid}")
}

/// The processing list of one ingestion, `analyzer:8:<uuid>:processing:<id>` (d4-rs, same db
/// as the queue): the batch being written, moved here from the queue and deleted once written,
/// so a crash of the ingestion loses no popped line (it is replayed at the next start).
pub fn processing(uuid: &str, id: &str) -> String {
    format!("{}:processing:{id}", queue(uuid))
}

/// Database index of the analyzer queues on the D4 server's Redis (spec `d4-core-server.md` §3.3).
pub const QUEUE_DB: u8 = 2;

/// Database index of the D4 server's metadata store (upstream `[Redis_METADATA] db`), on the
/// same Redis as the queues: queue `<uuid>` is registered there as hash `analyzer:<uuid>`
/// (its name belongs to d4-core's `keys::meta`).
pub const METADATA_DB: u8 = 0;

/// Forward set `r:<q>:<t>`: answers seen for a name and type.
pub fn forward(q: &str, t: u16) -> String {
    format!("r:{q}:{t}")
}

/// Reverse set `v:<v>:<t>`: names that had this answer for this type.
pub fn reverse(v: &str, t: u16) -> String {
    format!("v:{v}:{t}")
}

/// First-seen string `s:<q>:<v>:<t>` (epoch seconds).
pub fn first_seen(q: &str, v: &str, t: u16) -> String {
    format!("s:{q}:{v}:{t}")
}

/// Last-seen string `l:<q>:<v>:<t>` (epoch seconds).
pub fn last_seen(q: &str, v: &str, t: u16) -> String {
    format!("l:{q}:{v}:{t}")
}

/// Occurrence counter `o:<q>:<v>:<t>`.
pub fn occurrences(q: &str, v: &str, t: u16) -> String {
    format!("o:{q}:{v}:{t}")
}

/// Hash of TTL text → count.
pub const DIST_TTL: &str = "dist:ttl";
/// Hash of class text → count.
pub const DIST_CLASS: &str = "dist:class";
/// Hash of decimal type → count.
pub const DIST_TYPE: &str = "dist:type";
/// Counter of records written (upstream `stats:processed`).
pub const STATS_PROCESSED: &str = "stats:processed";
/// Sorted set sensor id → records (upstream, written by the COF importer and read by `/info`).
pub const STATS_SENSORS: &str = "stats:sensors";
/// Set of sensor ids seen (upstream, COF importer).
pub const SENSORS_SEEN: &str = "sensors:seen";
/// d4-rs addition: hash reason → number of input lines rejected for that reason.
pub const STATS_REJECTED: &str = "stats:rejected";

/// Prefix of every d4-rs search index key (`ix:`): never read by upstream programs, rebuilt
/// from the upstream keys by `pdns-reindex`.
pub const INDEX_PREFIX: &str = "ix:";

/// Left-hand wildcard index `ix:sub:<domain>` (sorted set): every indexed record of a name
/// strictly under `domain` (two labels or more), scored by last seen.
pub fn index_below(domain: &str) -> String {
    format!("ix:sub:{domain}")
}

/// Right-hand wildcard index `ix:pre:<bucket>` (sorted set, bucket in 5 hex digits): every
/// indexed record of a name made of leftmost labels (two or more) and at least one label more,
/// for each such leftmost part hashing to this bucket (`index::prefix_bucket`), scored by last
/// seen. Hashed buckets, not one key per leftmost part: most of those parts are one name, and a
/// key of its own would cost more than the record's entry.
pub fn index_starting(bucket: u32) -> String {
    format!("ix:pre:{bucket:05x}")
}

/// IPv4 address index `ix:ip4:<a>.<b>.<c>` (sorted set): the A records of one /24, scored by
/// last seen.
pub fn index_ip4(a: u8, b: u8, c: u8) -> String {
    format!("ix:ip4:{a}.{b}.{c}")
}

/// IPv6 address index `ix:ip6:<12 hex digits>` (sorted set): the AAAA records of one /48
/// (its first 48 bits in hex), scored by last seen.
pub fn index_ip6(first48: u64) -> String {
    format!("ix:ip6:{first48:012x}")
}

/// Newly observed feed `ix:new` (stream, capped with `MAXLEN ~`): names and records seen for
/// the first time, in ingestion order.
pub const NEW_FEED: &str = "ix:new";

/// State of `pdns-reindex` (hash: `cursor` = the `SCAN` cursor to resume from, `done` = keys
/// read, `records` = records indexed, `finished` = epoch seconds of the last complete pass).
pub const REINDEX_STATE: &str = "ix:reindex";

/// `SCAN` pattern of the forward sets `r:<q>:<t>` that `pdns-reindex` walks.
pub const FORWARD_PATTERN: &str = "r:*";

#[cfg(test)]
mod tests {
    use super::*;

    // One golden row per key family of spec pdns.md §1.5 "Key/value catalogue".
    #[test]
    fn key_catalogue_matches_spec() {
        assert_eq!(forward("example.com", 1), "r:example.com:1");
        assert_eq!(reverse("93.184.216.34", 1), "v:93.184.216.34:1");
        assert_eq!(
            first_seen("example.com", "93.184.216.34", 1),
            "s:example.com:93.184.216.34:1"
        );
        assert_eq!(
            last_seen("example.com", "93.184.216.34", 1),
            "l:example.com:93.184.216.34:1"
        );
        assert_eq!(
            occurrences("example.com", "93.184.216.34", 1),
            "o:example.com:93.184.216.34:1"
        );
        assert_eq!(reverse("2a00:1450::1", 28), "v:2a00:1450::1:28");
        assert_eq!(
            (DIST_TTL, DIST_CLASS, DIST_TYPE),
            ("dist:ttl", "dist:class", "dist:type")
        );
        assert_eq!(STATS_PROCESSED, "stats:processed");
        assert_eq!(
            (STATS_SENSORS, SENSORS_SEEN),
            ("stats:sensors", "sensors:seen")
        );
    }

    #[test]
    fn index_families_live_under_their_prefix() {
        for k in [
            index_below("example.com"),
            index_starting(0xabcde),
            index_ip4(192, 0, 2),
            index_ip6(0x2001_0db8_0001),
            NEW_FEED.to_string(),
            REINDEX_STATE.to_string(),
        ] {
            assert!(k.starts_with(INDEX_PREFIX), "{k}");
        }
        assert_eq!(index_ip4(192, 0, 2), "ix:ip4:192.0.2");
        assert_eq!(index_ip6(0x2001_0db8_0001), "ix:ip6:20010db80001");
        assert_eq!(index_below("example.com"), "ix:sub:example.com");
        assert_eq!(index_starting(0x1f), "ix:pre:0001f");
    }

    #[test]
    fn queue_name_matches_d4_core_spec() {
        assert_eq!(
            queue("6a2461ce-c29d-44fc-b4fa-947d68826639"),
            "analyzer:8:6a2461ce-c29d-44fc-b4fa-947d68826639"
        );
        assert_eq!(QUEUE_DB, 2);
        assert_eq!(
            processing("6a2461ce-c29d-44fc-b4fa-947d68826639", "default"),
            "analyzer:8:6a2461ce-c29d-44fc-b4fa-947d68826639:processing:default"
        );
    }
}

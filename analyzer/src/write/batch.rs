//! One batch of queue lines, aggregated into the writes it causes (pure, no I/O).
//!
//! Aggregating is equivalent to upstream's per-line commands (spec `pdns.md` §1.5) applied in
//! order: sets get the union, `l:` the maximum, `o:` and the `dist:`/`stats:` counters the
//! sums. `s:` gets the minimum (upstream: the first line processed, the same when lines come
//! in time order), so the result does not depend on batching or on how several writers'
//! batches interleave.

use std::collections::HashMap;

use crate::model::config::AnalyzerConfig;
use crate::model::line::{self, LineError, Record};

/// `((name, type), members)` of one `r:` or `v:` set.
pub(crate) type SetMembers<'a> = ((&'a str, u16), Vec<&'a str>);

/// Aggregate of one `(q, v, t)` tuple within a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tuple {
    /// Query name.
    pub(crate) q: String,
    /// Answer.
    pub(crate) v: String,
    /// Type.
    pub(crate) t: u16,
    /// Earliest timestamp.
    pub(crate) first: u64,
    /// Largest timestamp.
    pub(crate) last: u64,
    /// Lines.
    pub(crate) count: i64,
    /// A source's own count (COF import): `SET o:` to it instead of adding `count`.
    pub(crate) set_count: Option<i64>,
}

/// One sighting with explicit times (COF import).
#[derive(Debug, Clone)]
pub(crate) struct Observation<'a> {
    /// Normalised name.
    pub(crate) q: String,
    /// Normalised answer.
    pub(crate) v: String,
    /// Type.
    pub(crate) t: u16,
    /// First seen.
    pub(crate) first: u64,
    /// Last seen.
    pub(crate) last: u64,
    /// Source count, overwriting `o:`.
    pub(crate) set_count: Option<i64>,
    /// Sensor credited in `stats:sensors`.
    pub(crate) sensor: Option<&'a str>,
}

/// Everything one batch writes.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Tuples in first-seen order.
    pub(crate) tuples: Vec<Tuple>,
    index: HashMap<(String, String, u16), usize>,
    /// Field → increment for `dist:ttl`, `dist:class`, `dist:type`.
    pub(crate) dist_ttl: HashMap<String, i64>,
    /// See [`Batch::dist_ttl`].
    pub(crate) dist_class: HashMap<String, i64>,
    /// Type number → increment for `dist:type`.
    pub(crate) dist_type: HashMap<u16, i64>,
    /// Records written (`stats:processed`).
    pub(crate) processed: i64,
    /// Reason → rejected lines.
    pub(crate) rejected: HashMap<&'static str, i64>,
    /// Lines skipped by `[exclude]`.
    pub(crate) excluded: i64,
    /// First rejected line and its error, for the one log line per batch.
    pub(crate) first_error: Option<(String, LineError)>,
    /// Sensor id → records, for `stats:sensors` / `sensors:seen`.
    pub(crate) sensors: HashMap<String, i64>,
}

impl Batch {
    /// Parses and aggregates raw queue items.
    pub(crate) fn from_lines<'a>(
        lines: impl IntoIterator<Item = &'a [u8]>,
        cfg: &AnalyzerConfig,
    ) -> Batch {
        let mut b = Batch::default();
        for raw in lines {
            match line::parse(raw) {
                Ok(r) if cfg.excluded(&r.q) => b.excluded += 1,
                Ok(r) => b.add(r),
                Err(e) => b.reject(raw, e),
            }
        }
        if let (Some(id), true) = (&cfg.sensor_id, b.processed > 0) {
            b.sensors.insert(id.clone(), b.processed);
        }
        b
    }

    /// Adds one tuple with explicit times and optional source count (COF import); no `dist:`.
    pub(crate) fn add_observation(&mut self, o: Observation<'_>) {
        self.processed += 1;
        if let Some(id) = o.sensor {
            *self.sensors.entry(id.to_string()).or_default() += 1;
        }
        let key = (o.q, o.v, o.t);
        if let Some(&i) = self.index.get(&key) {
            let tu = &mut self.tuples[i];
            tu.first = tu.first.min(o.first);
            tu.last = tu.last.max(o.last);
            tu.count += 1;
            tu.set_count = o.set_count.or(tu.set_count);
            return;
        }
        self.index.insert(key.clone(), self.tuples.len());
        let (q, v, t) = key;
        let (first, last, set_count) = (o.first, o.last, o.set_count);
        self.tuples.push(Tuple {
            q,
            v,
            t,
            first,
            last,
            count: 1,
            set_count,
        });
    }

    /// Adds one accepted record (its strings move into the batch: no copy per line).
    pub(crate) fn add(&mut self, r: Record) {
        let Record {
            ts,
            class,
            q,
            t,
            v,
            ttl,
        } = r;
        if let Some(ttl) = ttl {
            *self.dist_ttl.entry(ttl).or_default() += 1;
        }
        *self.dist_class.entry(class).or_default() += 1;
        *self.dist_type.entry(t).or_default() += 1;
        self.processed += 1;
        let key = (q, v, t);
        if let Some(&i) = self.index.get(&key) {
            let t = &mut self.tuples[i];
            t.first = t.first.min(ts);
            t.last = t.last.max(ts);
            t.count += 1;
            return;
        }
        self.index.insert(key.clone(), self.tuples.len());
        let (q, v, t) = key;
        self.tuples.push(Tuple {
            q,
            v,
            t,
            first: ts,
            last: ts,
            count: 1,
            set_count: None,
        });
    }

    /// Counts one rejected line.
    pub(crate) fn reject(&mut self, raw: &[u8], e: LineError) {
        *self.rejected.entry(e.reason()).or_default() += 1;
        if self.first_error.is_none() {
            self.first_error = Some((String::from_utf8_lossy(raw).chars().take(200).collect(), e));
        }
    }

    /// Rejected lines in total.
    pub(crate) fn rejected_total(&self) -> i64 {
        self.rejected.values().sum()
    }

    /// Members of each forward set `(q, t)` and reverse set `(v, t)`, in first-seen order.
    pub(crate) fn sets(&self) -> (Vec<SetMembers<'_>>, Vec<SetMembers<'_>>) {
        (
            group(
                self.tuples
                    .iter()
                    .map(|t| ((t.q.as_str(), t.t), t.v.as_str())),
            ),
            group(
                self.tuples
                    .iter()
                    .map(|t| ((t.v.as_str(), t.t), t.q.as_str())),
            ),
        )
    }
}

fn group<'a>(
    items: impl Iterator<Item = ((&'a str, u16), &'a str)>,
) -> Vec<((&'a str, u16), Vec<&'a str>)> {
    let mut out: Vec<((&str, u16), Vec<&str>)> = Vec::new();
    let mut at: HashMap<(&str, u16), usize> = HashMap::new();
    for (k, m) in items {
        match at.get(&k) {
            Some(&i) => out[i].1.push(m),
            None => {
                at.insert(k, out.len());
                out.push((k, vec![m]));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use d4_core::config::Ini;

    fn cfg() -> AnalyzerConfig {
        let ini = Ini::parse("[exclude]\nsubstring = spamhaus.org\n").expect("ini");
        AnalyzerConfig::from_ini(&ini, &|_| None).expect("cfg")
    }

    #[test]
    fn aggregates_like_sequential_upstream_commands() {
        let lines: Vec<&[u8]> = vec![
            b"200||c||s||IN||a.org||A||1.1.1.1||60||1",
            b"100||c||s||IN||a.org||A||1.1.1.1||60||1",
            b"300||c||s||IN||a.org||A||2.2.2.2||30||1",
            b"300||c||s||IN||x.spamhaus.org||A||2.2.2.2||30||1",
            b"junk",
            b"400||c||s||CH||b.org||A||1.1.1.1",
        ];
        let b = Batch::from_lines(lines, &cfg());
        assert_eq!(b.processed, 4);
        assert_eq!(b.excluded, 1);
        assert_eq!(b.rejected.get("too-few-fields"), Some(&1));
        let t = &b.tuples[0];
        assert_eq!((t.first, t.last, t.count), (100, 200, 2));
        assert_eq!(b.dist_ttl.get("60"), Some(&2));
        assert_eq!(b.dist_class.get("CH"), Some(&1));
        assert_eq!(b.dist_type.get(&1), Some(&4));
        let (fwd, rev) = b.sets();
        assert_eq!(fwd[0], (("a.org", 1), vec!["1.1.1.1", "2.2.2.2"]));
        assert_eq!(rev[0], (("1.1.1.1", 1), vec!["a.org", "b.org"]));
    }
}

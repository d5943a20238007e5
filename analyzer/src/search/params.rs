//! Search parameters of a request, DNSDB v2 names: `time_first_before`, `time_first_after`,
//! `time_last_before`, `time_last_after` (epoch seconds, or negative = seconds before now),
//! `rrtype` (a mnemonic or number; repeatable and comma-separated: `rrtype=A,AAAA`), `limit`
//! (`0` = the engine's maximum), `cursor` (from the previous page). Other names are not
//! search parameters ([`Params::absorb`] says so, the caller decides what they mean).

use super::{Cursor, Fence, Query, SearchError, Subject, DEFAULT_LIMIT, MAX_LIMIT};
use crate::model::rrtype;

/// Search parameters read so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params {
    /// Time fences (resolved to absolute seconds).
    pub(crate) fence: Fence,
    /// Types asked for, in request order, without duplicates.
    pub(crate) types: Vec<u16>,
    /// `limit` (`Some(0)` = maximum).
    pub(crate) limit: Option<usize>,
    /// `cursor`.
    pub(crate) after: Option<Cursor>,
    /// Whether any search parameter was given.
    pub(crate) any: bool,
}

fn bad(msg: String) -> SearchError {
    SearchError::BadRequest(msg)
}

impl Params {
    /// Takes one parameter; `Ok(false)` when `name` is not a search parameter.
    pub(crate) fn absorb(
        &mut self,
        name: &str,
        value: &str,
        now: i64,
    ) -> Result<bool, SearchError> {
        let value = value.trim();
        let fence = match name {
            "time_first_before" => &mut self.fence.first_before,
            "time_first_after" => &mut self.fence.first_after,
            "time_last_before" => &mut self.fence.last_before,
            "time_last_after" => &mut self.fence.last_after,
            "rrtype" => {
                for v in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                    let t = parse_type(v)?;
                    if !self.types.contains(&t) {
                        self.types.push(t);
                    }
                }
                self.any = true;
                return Ok(true);
            }
            "limit" => {
                let n = value
                    .parse::<usize>()
                    .map_err(|_| bad(format!("limit: expected a number, got {value:?}")))?;
                self.limit = Some(n);
                self.any = true;
                return Ok(true);
            }
            "cursor" => {
                if !value.is_empty() {
                    self.after = Some(
                        Cursor::decode(value)
                            .ok_or_else(|| bad(format!("cursor: invalid cursor {value:?}")))?,
                    );
                }
                self.any = true;
                return Ok(true);
            }
            _ => return Ok(false),
        };
        let raw = value
            .parse::<i64>()
            .map_err(|_| bad(format!("{name}: expected epoch seconds, got {value:?}")))?;
        *fence = Some(Fence::resolve(raw, now));
        self.any = true;
        Ok(true)
    }

    /// The query for `subject` with these parameters (limit capped at [`MAX_LIMIT`]).
    pub(crate) fn query(&self, subject: Subject) -> Query {
        let limit = match self.limit {
            None => DEFAULT_LIMIT,
            Some(0) => MAX_LIMIT,
            Some(n) => n.min(MAX_LIMIT),
        };
        Query {
            subject,
            types: self.types.clone(),
            fence: self.fence,
            limit,
            after: self.after.clone(),
        }
    }
}

/// A served type by mnemonic (any case) or number.
pub(crate) fn parse_type(v: &str) -> Result<u16, SearchError> {
    rrtype::served(v).ok_or_else(|| {
        bad(format!(
            "rrtype: unsupported type {v:?}; valid types: {}",
            rrtype::served_names()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: i64,
    ) -> Result<Params, SearchError> {
        let mut p = Params::default();
        for (name, value) in pairs {
            p.absorb(name, value, now)?;
        }
        Ok(p)
    }

    #[test]
    fn dnsdb_parameters() {
        let p = from_pairs(
            [
                ("time_last_after", "-3600"),
                ("time_first_before", "1700000000"),
                ("rrtype", "a,AAAA"),
                ("rrtype", "1"),
                ("limit", "0"),
                ("swclient", "dnsdbq"),
            ],
            10_000,
        )
        .expect("params");
        assert!(p.any);
        assert_eq!(p.fence.last_after, Some(6400));
        assert_eq!(p.fence.first_before, Some(1_700_000_000));
        assert_eq!(p.types, vec![1, 28]);
        let q = p.query(Subject::Name("x.org".into()));
        assert_eq!(q.limit, MAX_LIMIT);
        assert!(from_pairs([("rrtype", "PTR")], 0).is_err());
        assert!(from_pairs([("limit", "-1")], 0).is_err());
        assert!(from_pairs([("time_last_after", "yesterday")], 0).is_err());
        assert!(from_pairs([("cursor", "nope")], 0).is_err());
        assert!(!from_pairs([("bailiwick", "1")], 0).expect("p").any);
    }
}

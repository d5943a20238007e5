//! ANALYZER store (`Redis_ANALYZER`, 6380 db 2): the queues external analyzers pop (spec §3.3).
//! Producer `LPUSH`, consumer `RPOP` (FIFO), trimmed to `max_size` items (upstream kept
//! `max_size + 1`; see `docs/compatibility.md`).

use std::fmt::Display;

/// LIST `analyzer:<type-or-ext>:<queue_uuid>`, e.g. `analyzer:8:<q>` or `analyzer:ja3-jl:<q>`.
pub fn queue(type_or_ext: impl Display, q: &str) -> String {
    format!("analyzer:{type_or_ext}:{q}")
}

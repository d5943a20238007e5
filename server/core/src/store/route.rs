//! How a pipeline is cut for a cluster: each command goes to the slot of its key, and a
//! multi-key command whose keys live in several slots (`MGET`, `MSET`, `DEL`, `EXISTS`,
//! `UNLINK`, `TOUCH`) is split into one command per slot whose replies are put back
//! together as the whole command's reply. An `XREAD` of streams in several slots is split
//! the same way, without its `BLOCK` (the cluster connection polls instead, see
//! [`Plan::block`]).
//!
//! Pure functions only (no I/O): [`Plan::new`] cuts, [`Plan::merge`] recombines. The
//! cluster connection runs the pieces (`super::cluster`).

use redis::{Arg, Cmd, Value};

/// One command to run on a cluster.
#[derive(Debug)]
pub(super) struct Piece {
    /// The command (a whole command of the pipeline, or the part of one for one slot).
    pub(super) cmd: Cmd,
    /// The slot of its keys; `None` for a command without keys (sent to any node).
    pub(super) slot: Option<u16>,
    /// A command without keys that every primary must get (`SCRIPT LOAD`, `FLUSHDB`,
    /// `DBSIZE`...): scripts must be known where their keys live.
    pub(super) everywhere: bool,
}

/// How the replies of a command's pieces make its reply.
#[derive(Debug, PartialEq, Eq)]
enum Merge {
    /// Not split: the one piece's reply.
    Whole,
    /// `MGET` split per slot: the reply of key `k` is item `.1` of piece `.0`'s reply.
    Gather(Vec<(usize, usize)>),
    /// `DEL`/`EXISTS`/`UNLINK`/`TOUCH`: the sum of the pieces' counts.
    Sum,
    /// `MSET`: `OK` when every piece said so.
    AllOk,
    /// `XREAD` split per slot: the streams of every piece's reply, in the order of these
    /// keys (the command's order, as one server answers); nil when no stream has entries.
    Streams(Vec<Vec<u8>>),
}

/// One command of the pipeline: its pieces (a range of [`Plan::pieces`]) and the merge.
#[derive(Debug)]
struct Part {
    first: usize,
    count: usize,
    merge: Merge,
}

/// A pipeline cut into single-slot pieces, and how to put their replies back in order.
#[derive(Debug)]
pub(super) struct Plan {
    /// Every piece, in pipeline order.
    pub(super) pieces: Vec<Piece>,
    parts: Vec<Part>,
    /// The `BLOCK` milliseconds of a split `XREAD` (0: no limit).
    block: Option<u64>,
}

impl Plan {
    /// Cuts the commands of a pipeline.
    pub(super) fn new<'a>(cmds: impl Iterator<Item = &'a Cmd>) -> Plan {
        let mut plan = Plan {
            pieces: Vec::new(),
            parts: Vec::new(),
            block: None,
        };
        for cmd in cmds {
            plan.add(cmd);
        }
        plan
    }

    /// Adds one command: whole when its keys share a slot, else split per slot.
    fn add(&mut self, cmd: &Cmd) {
        let args = args(cmd);
        let name = args
            .first()
            .map(|a| a.to_ascii_uppercase())
            .unwrap_or_default();
        let first = self.pieces.len();
        let split = match name.as_slice() {
            b"MGET" => self.split(&name, &args[1..], 1).map(Merge::Gather),
            b"DEL" | b"EXISTS" | b"UNLINK" | b"TOUCH" => {
                self.split(&name, &args[1..], 1).map(|_| Merge::Sum)
            }
            b"MSET" if args.len() % 2 == 1 => {
                self.split(&name, &args[1..], 2).map(|_| Merge::AllOk)
            }
            b"XREAD" => self.split_xread(&args),
            _ => None,
        };
        let merge = match split {
            Some(merge) => merge,
            None => {
                let slot = key_slot(&name, &args);
                self.pieces.push(Piece {
                    cmd: cmd.clone(),
                    slot,
                    everywhere: slot.is_none() && EVERYWHERE.contains(&name.as_slice()),
                });
                Merge::Whole
            }
        };
        let count = self.pieces.len() - first;
        self.parts.push(Part {
            first,
            count,
            merge,
        });
    }

    /// Splits `name` over groups of `stride` arguments (key first) by slot, if the keys
    /// are in more than one; pushes one piece per slot (in order of first appearance) and
    /// returns, per group, `(piece within this command, index within that piece)`.
    fn split(
        &mut self,
        name: &[u8],
        groups: &[&[u8]],
        stride: usize,
    ) -> Option<Vec<(usize, usize)>> {
        let slots: Vec<u16> = groups.chunks(stride).map(|g| slot(g[0])).collect();
        if slots.windows(2).all(|w| w[0] == w[1]) {
            return None;
        }
        let mut order: Vec<u16> = Vec::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        let mut positions = Vec::with_capacity(slots.len());
        for (g, slot) in slots.iter().enumerate() {
            let p = match order.iter().position(|s| s == slot) {
                Some(p) => p,
                None => {
                    order.push(*slot);
                    members.push(Vec::new());
                    order.len() - 1
                }
            };
            positions.push((p, members[p].len()));
            members[p].push(g);
        }
        for (slot, groups_of_slot) in order.into_iter().zip(members) {
            let mut cmd = redis::cmd(&String::from_utf8_lossy(name));
            for g in groups_of_slot {
                for a in &groups[g * stride..(g + 1) * stride] {
                    cmd.arg(*a);
                }
            }
            self.pieces.push(Piece {
                cmd,
                slot: Some(slot),
                everywhere: false,
            });
        }
        Some(positions)
    }

    /// Splits an `XREAD` whose streams live in several slots into one `XREAD` per slot
    /// (same `COUNT`, no `BLOCK`: a piece must not hold its node's connection while
    /// another slot has entries) and remembers the `BLOCK` for [`Plan::block`]. `None`
    /// (sent whole) when the streams share a slot or the command is malformed (the server
    /// then answers for it).
    fn split_xread(&mut self, args: &[&[u8]]) -> Option<Merge> {
        let x = XRead::parse(args)?;
        let slots: Vec<u16> = x.keys.iter().map(|k| slot(k)).collect();
        if slots.windows(2).all(|w| w[0] == w[1]) {
            return None;
        }
        let block = match x.block {
            Some(ms) => Some(std::str::from_utf8(ms).ok()?.parse::<u64>().ok()?),
            None => None,
        };
        let mut order: Vec<u16> = Vec::new();
        for s in &slots {
            if !order.contains(s) {
                order.push(*s);
            }
        }
        for s in order {
            let mut cmd = redis::cmd("XREAD");
            if let Some(count) = x.count {
                cmd.arg("COUNT").arg(count);
            }
            cmd.arg("STREAMS");
            let mine: Vec<usize> = (0..slots.len()).filter(|&i| slots[i] == s).collect();
            for &i in &mine {
                cmd.arg(x.keys[i]);
            }
            for &i in &mine {
                cmd.arg(x.ids[i]);
            }
            self.pieces.push(Piece {
                cmd,
                slot: Some(s),
                everywhere: false,
            });
        }
        self.block = block;
        Some(Merge::Streams(x.keys.iter().map(|k| k.to_vec()).collect()))
    }

    /// How long the cluster connection polls a split `XREAD` that found no entries: the
    /// command's `BLOCK` (`Some(0)`: until entries arrive), `None` when it must not (no
    /// `BLOCK`, not split, or not the pipeline's only command: re-sending a pipeline
    /// would run its other commands again).
    pub(super) fn block(&self) -> Option<u64> {
        if self.parts.len() == 1 {
            self.block
        } else {
            None
        }
    }

    /// The replies of the pipeline's commands, in order, from the replies of the pieces
    /// (same order as [`Plan::pieces`]). A refused piece makes its command's reply that
    /// refusal.
    pub(super) fn merge(&self, replies: Vec<Value>) -> Vec<Value> {
        let mut replies: Vec<Option<Value>> = replies.into_iter().map(Some).collect();
        let mut out = Vec::with_capacity(self.parts.len());
        for part in &self.parts {
            let mine: Vec<Value> = replies[part.first..part.first + part.count]
                .iter_mut()
                .map(|r| r.take().unwrap_or(Value::Nil))
                .collect();
            out.push(merge(&part.merge, mine));
        }
        out
    }
}

/// Puts one command's piece replies together.
fn merge(how: &Merge, mut replies: Vec<Value>) -> Value {
    if let Some(i) = replies
        .iter()
        .position(|r| matches!(r, Value::ServerError(_)))
    {
        return replies.swap_remove(i);
    }
    match how {
        Merge::Whole => replies.pop().unwrap_or(Value::Nil),
        Merge::Sum => Value::Int(replies.iter().filter_map(super::value::int).sum()),
        Merge::AllOk => Value::Okay,
        Merge::Gather(positions) => {
            let mut items: Vec<Vec<Option<Value>>> = replies
                .into_iter()
                .map(|r| match r {
                    Value::Array(items) => items.into_iter().map(Some).collect(),
                    _ => Vec::new(),
                })
                .collect();
            let gathered = positions
                .iter()
                .map(|(p, i)| {
                    items
                        .get_mut(*p)
                        .and_then(|r| r.get_mut(*i))
                        .and_then(Option::take)
                        .unwrap_or(Value::Nil)
                })
                .collect();
            Value::Array(gathered)
        }
        Merge::Streams(keys) => streams(keys, replies),
    }
}

/// The reply of a split `XREAD` from its pieces' replies (each nil, an array of
/// `[key, entries]` or, in RESP3, a map): every stream with entries, in the order of
/// `keys`, in the shape of the pieces' replies; nil when none has entries.
fn streams(keys: &[Vec<u8>], replies: Vec<Value>) -> Value {
    let mut map = false;
    let mut found: Vec<(Value, Value)> = Vec::new();
    for reply in replies {
        match reply {
            Value::Array(items) => found.extend(items.into_iter().filter_map(|item| match item {
                Value::Array(mut kv) if kv.len() == 2 => {
                    let entries = kv.pop()?;
                    Some((kv.pop()?, entries))
                }
                _ => None,
            })),
            Value::Map(pairs) => {
                map = true;
                found.extend(pairs);
            }
            _ => {}
        }
    }
    if found.is_empty() {
        return Value::Nil;
    }
    let rank = |key: &Value| match key {
        Value::BulkString(k) => keys.iter().position(|x| x == k),
        Value::SimpleString(k) => keys.iter().position(|x| x == k.as_bytes()),
        _ => None,
    };
    found.sort_by_key(|(k, _)| rank(k).unwrap_or(usize::MAX));
    if map {
        Value::Map(found)
    } else {
        Value::Array(
            found
                .into_iter()
                .map(|(k, e)| Value::Array(vec![k, e]))
                .collect(),
        )
    }
}

/// The parts of `XREAD [COUNT n] [BLOCK ms] STREAMS key... id...`.
struct XRead<'a> {
    count: Option<&'a [u8]>,
    block: Option<&'a [u8]>,
    keys: &'a [&'a [u8]],
    ids: &'a [&'a [u8]],
}

impl<'a> XRead<'a> {
    /// Reads the arguments (command name first); `None` for an option this facade does not
    /// know or an odd number of keys and ids.
    fn parse(args: &'a [&'a [u8]]) -> Option<XRead<'a>> {
        let (mut count, mut block) = (None, None);
        let mut i = 1;
        loop {
            let opt = args.get(i)?.to_ascii_uppercase();
            match opt.as_slice() {
                b"COUNT" => count = Some(*args.get(i + 1)?),
                b"BLOCK" => block = Some(*args.get(i + 1)?),
                b"STREAMS" => break,
                _ => return None,
            }
            i += 2;
        }
        let rest = &args[i + 1..];
        if rest.is_empty() || rest.len() % 2 == 1 {
            return None;
        }
        let (keys, ids) = rest.split_at(rest.len() / 2);
        Some(XRead {
            count,
            block,
            keys,
            ids,
        })
    }
}

/// The arguments of a command (a cursor placeholder counts as an empty argument).
fn args(cmd: &Cmd) -> Vec<&[u8]> {
    cmd.args_iter()
        .map(|a| match a {
            Arg::Simple(b) => b,
            _ => &[][..],
        })
        .collect()
}

/// Commands without a key: the client routes them (to every primary, or any node).
const KEYLESS: &[&[u8]] = &[
    b"PING",
    b"INFO",
    b"SCAN",
    b"KEYS",
    b"SELECT",
    b"DBSIZE",
    b"FLUSHDB",
    b"FLUSHALL",
    b"TIME",
    b"CLUSTER",
    b"CONFIG",
    b"CLIENT",
    b"HELLO",
    b"AUTH",
    b"ECHO",
    b"WAIT",
    b"SCRIPT",
    b"FUNCTION",
    b"COMMAND",
    b"LASTSAVE",
    b"SAVE",
    b"BGSAVE",
    b"BGREWRITEAOF",
    b"DEBUG",
    b"SLOWLOG",
    b"LATENCY",
    b"ACL",
    b"RANDOMKEY",
    b"ROLE",
    b"PUBLISH",
    b"MULTI",
    b"EXEC",
    b"DISCARD",
    b"READONLY",
    b"READWRITE",
];

/// Commands without a key that go to every primary.
const EVERYWHERE: &[&[u8]] = &[
    b"SCRIPT",
    b"FUNCTION",
    b"FLUSHDB",
    b"FLUSHALL",
    b"DBSIZE",
    b"CONFIG",
];

/// The slot of the command's (first) key, or `None` when it has no key.
fn key_slot(name: &[u8], args: &[&[u8]]) -> Option<u16> {
    key(name, args).map(slot)
}

/// Slots of a cluster.
pub(super) const SLOTS: usize = 16384;

/// The cluster slot of a key: CRC16 (XMODEM) of its hash tag (the text between the first
/// `{` and the next `}`, when not empty) or of the whole key, modulo 16384.
pub(super) fn slot(key: &[u8]) -> u16 {
    let tag = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16(tag.unwrap_or(key)) % SLOTS as u16
}

/// CRC16/XMODEM (polynomial 0x1021, initial 0), the checksum Redis Cluster uses.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The (first) key of a command, by the command's key position.
fn key<'a>(name: &[u8], args: &[&'a [u8]]) -> Option<&'a [u8]> {
    if KEYLESS.contains(&name) {
        return None;
    }
    match name {
        // numkeys then keys.
        b"EVAL" | b"EVALSHA" | b"EVAL_RO" | b"EVALSHA_RO" | b"FCALL" | b"FCALL_RO" => {
            let n: usize = std::str::from_utf8(args.get(2)?).ok()?.parse().ok()?;
            if n == 0 {
                return None;
            }
            args.get(3).copied()
        }
        // A subcommand then the key.
        b"OBJECT" | b"XINFO" | b"XGROUP" | b"MEMORY" => args.get(2).copied(),
        // ... STREAMS key [key ...] id [id ...]
        b"XREAD" | b"XREADGROUP" => {
            let at = args
                .iter()
                .position(|a| a.eq_ignore_ascii_case(b"STREAMS"))?;
            args.get(at + 1).copied()
        }
        _ => args.get(1).copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// Keys known to hash to different slots.
    fn two_slot_keys() -> (&'static str, &'static str) {
        assert_ne!(slot(b"a"), slot(b"b"));
        ("a", "b")
    }

    /// The values of the Redis Cluster specification.
    #[test]
    fn slots_follow_the_cluster_specification() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}".as_slice()));
        assert_ne!(
            slot(b"foo{}{bar}"),
            slot(b"bar"),
            "an empty tag hashes the whole key"
        );
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
    }

    #[test]
    fn single_slot_commands_are_not_split() {
        let mut p = redis::pipe();
        p.cmd("SET").arg("k").arg(1);
        p.cmd("MGET").arg("{t}x").arg("{t}y");
        p.cmd("PING");
        p.cmd("EVAL").arg("return 1").arg(1).arg("k");
        p.cmd("XREAD")
            .arg("COUNT")
            .arg(5)
            .arg("STREAMS")
            .arg("s")
            .arg("0");
        let plan = Plan::new(p.cmd_iter());
        let slots: Vec<Option<u16>> = plan.pieces.iter().map(|p| p.slot).collect();
        let k = Some(slot(b"k"));
        assert_eq!(slots, [k, Some(slot(b"t")), None, k, Some(slot(b"s"))]);
        let everywhere: Vec<bool> = plan.pieces.iter().map(|p| p.everywhere).collect();
        assert_eq!(everywhere, [false; 5]);
        let mut load = redis::pipe();
        load.cmd("SCRIPT").arg("LOAD").arg("return 1");
        assert!(Plan::new(load.cmd_iter()).pieces[0].everywhere);
        let replies = vec![
            Value::Okay,
            Value::Nil,
            bulk("PONG"),
            Value::Int(1),
            Value::Nil,
        ];
        assert_eq!(plan.merge(replies.clone()), replies);
    }

    #[test]
    fn mget_is_split_per_slot_and_gathered_in_key_order() {
        let (a, b) = two_slot_keys();
        let mut p = redis::pipe();
        p.cmd("GET").arg("first");
        p.cmd("MGET").arg(a).arg(b).arg(a);
        let plan = Plan::new(p.cmd_iter());
        assert_eq!(plan.pieces.len(), 3);
        assert_eq!(plan.pieces[1].cmd.args_iter().len(), 3, "MGET a a");
        assert_eq!(plan.pieces[2].cmd.args_iter().len(), 2, "MGET b");
        let replies = vec![
            bulk("f"),
            Value::Array(vec![bulk("A1"), bulk("A2")]),
            Value::Array(vec![bulk("B")]),
        ];
        assert_eq!(
            plan.merge(replies),
            [
                bulk("f"),
                Value::Array(vec![bulk("A1"), bulk("B"), bulk("A2")])
            ]
        );
    }

    #[test]
    fn counts_are_summed_and_mset_is_ok_when_every_slot_is() {
        let (a, b) = two_slot_keys();
        let mut p = redis::pipe();
        p.cmd("DEL").arg(a).arg(b);
        p.cmd("MSET").arg(a).arg(1).arg(b).arg(2);
        let plan = Plan::new(p.cmd_iter());
        assert_eq!(plan.pieces.len(), 4);
        assert_eq!(plan.pieces[2].cmd.args_iter().len(), 3, "MSET a 1");
        let replies = vec![Value::Int(1), Value::Int(1), Value::Okay, Value::Okay];
        assert_eq!(plan.merge(replies), [Value::Int(2), Value::Okay]);
    }

    #[test]
    fn a_refused_piece_is_its_commands_reply() {
        let (a, b) = two_slot_keys();
        let mut p = redis::pipe();
        p.cmd("MGET").arg(a).arg(b);
        let plan = Plan::new(p.cmd_iter());
        let refusal = redis::parse_redis_value(b"-WRONGTYPE nope\r\n").unwrap();
        let out = plan.merge(vec![Value::Array(vec![bulk("x")]), refusal.clone()]);
        assert_eq!(out, [refusal]);
    }

    fn entries(id: &str) -> Value {
        Value::Array(vec![Value::Array(vec![
            bulk(id),
            Value::Array(vec![bulk("f"), bulk("v")]),
        ])])
    }

    fn stream(key: &str, id: &str) -> Value {
        Value::Array(vec![bulk(key), entries(id)])
    }

    /// `XREAD COUNT 5 BLOCK 250 STREAMS a b {a}x 1-0 2-0 3-0`: `a` and `{a}x` share a slot.
    fn three_stream_xread() -> Plan {
        let (a, b) = two_slot_keys();
        let mut p = redis::pipe();
        p.cmd("xread")
            .arg("COUNT")
            .arg(5)
            .arg("block")
            .arg(250)
            .arg("STREAMS")
            .arg(&[a, b, "{a}x"])
            .arg(&["1-0", "2-0", "3-0"]);
        Plan::new(p.cmd_iter())
    }

    #[test]
    fn xread_is_split_per_slot_without_block() {
        let plan = three_stream_xread();
        let pieces: Vec<Vec<&[u8]>> = plan.pieces.iter().map(|p| args(&p.cmd)).collect();
        let want: [&[&[u8]]; 2] = [
            &[
                b"XREAD", b"COUNT", b"5", b"STREAMS", b"a", b"{a}x", b"1-0", b"3-0",
            ],
            &[b"XREAD", b"COUNT", b"5", b"STREAMS", b"b", b"2-0"],
        ];
        assert_eq!(pieces, want);
        let slots: Vec<Option<u16>> = plan.pieces.iter().map(|p| p.slot).collect();
        assert_eq!(slots, [Some(slot(b"a")), Some(slot(b"b"))]);
        assert_eq!(plan.block(), Some(250), "the cluster connection polls");
    }

    #[test]
    fn xread_replies_keep_the_command_order_and_skip_empty_slots() {
        let plan = three_stream_xread();
        let both = vec![
            Value::Array(vec![stream("{a}x", "3-1"), stream("a", "1-1")]),
            Value::Array(vec![stream("b", "2-1")]),
        ];
        let want = Value::Array(vec![
            stream("a", "1-1"),
            stream("b", "2-1"),
            stream("{a}x", "3-1"),
        ]);
        assert_eq!(plan.merge(both), [want]);
        let one = vec![Value::Nil, Value::Array(vec![stream("b", "2-1")])];
        assert_eq!(plan.merge(one), [Value::Array(vec![stream("b", "2-1")])]);
        assert_eq!(plan.merge(vec![Value::Nil, Value::Nil]), [Value::Nil]);
        let resp3 = vec![
            Value::Map(vec![(bulk("{a}x"), entries("3-1"))]),
            Value::Map(vec![(bulk("b"), entries("2-1"))]),
        ];
        let want = Value::Map(vec![
            (bulk("b"), entries("2-1")),
            (bulk("{a}x"), entries("3-1")),
        ]);
        assert_eq!(plan.merge(resp3), [want]);
    }

    #[test]
    fn xread_blocks_on_its_node_when_not_split_and_polls_only_alone() {
        let mut one_slot = redis::pipe();
        one_slot
            .cmd("XREAD")
            .arg("BLOCK")
            .arg(0)
            .arg("STREAMS")
            .arg(&["a", "{a}x"])
            .arg(&["0", "0"]);
        let plan = Plan::new(one_slot.cmd_iter());
        assert_eq!(plan.pieces.len(), 1);
        assert_eq!(args(&plan.pieces[0].cmd).len(), 8, "sent whole, BLOCK kept");
        assert_eq!(plan.block(), None);
        let (a, b) = two_slot_keys();
        let mut with_other = redis::pipe();
        with_other.cmd("PING");
        with_other
            .cmd("XREAD")
            .arg("BLOCK")
            .arg(0)
            .arg("STREAMS")
            .arg(&[a, b])
            .arg(&["0", "0"]);
        let plan = Plan::new(with_other.cmd_iter());
        assert_eq!(plan.pieces.len(), 3);
        assert_eq!(plan.block(), None, "a pipeline is never re-sent");
        let mut no_block = redis::pipe();
        no_block
            .cmd("XREAD")
            .arg("STREAMS")
            .arg(&[a, b])
            .arg(&["0", "0"]);
        assert_eq!(Plan::new(no_block.cmd_iter()).block(), None);
        let mut odd = redis::pipe();
        odd.cmd("XREAD").arg("STREAMS").arg(&[a, b]).arg("0");
        assert_eq!(
            Plan::new(odd.cmd_iter()).pieces.len(),
            1,
            "the server refuses it"
        );
    }
}

//! The D4 byte stream the client writes for a given input and configuration, checked
//! against the spec layout (`clients.md` §1) and by an independent Python decoder.

use std::io::Write;
use std::time::Duration;

use crate::common::{Client, ConfDir, KEY, UUID};

const BIN: &str = env!("CARGO_BIN_EXE_d4-client");

/// Independent decoder: Python `struct` + `hmac`, from the spec text only.
const PY_DECODER: &str = r#"
import hmac, hashlib, struct, sys, json
data = open(sys.argv[1], 'rb').read()
key = sys.argv[2].encode()
out, off = [], 0
while off < len(data):
    hdr = data[off:off+62]
    version, typ, uuid, ts, mac, size = struct.unpack('<BB16sQ32sI', hdr)
    payload = data[off+62:off+62+size]
    assert len(payload) == size, 'truncated packet'
    want = hmac.new(key, hdr[:26] + b'\0'*32 + hdr[58:62] + payload, hashlib.sha256).digest()
    out.append({'version': version, 'type': typ, 'uuid': uuid.hex(), 'ts': ts,
                'size': size, 'hmac_ok': hmac.compare_digest(want, mac), 'payload': payload.decode('latin-1')})
    off += 62 + size
print(json.dumps(out))
"#;

fn run_stdout(conf: &ConfDir, input: &[u8]) -> Vec<u8> {
    let mut c = Client::spawn(BIN, &["-c", conf.path().to_str().unwrap()]);
    c.stdin.as_mut().unwrap().write_all(input).unwrap();
    assert_eq!(c.finish(Duration::from_secs(20)), 0, "{}", c.log());
    c.stdout()
}

fn python_decode(stream: &[u8]) -> Vec<serde_json::Value> {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), stream).unwrap();
    let out = d4_testkit::python(
        PY_DECODER,
        &[
            tmp.path().to_str().unwrap(),
            std::str::from_utf8(KEY).unwrap(),
        ],
    );
    serde_json::from_str(&out).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Type-8 lines with snaplen 64: packets hold whole lines, the layout matches the spec
/// offsets, and Python verifies every HMAC.
#[test]
fn passivedns_lines_golden_stream() {
    if !d4_testkit::require("python3") {
        return;
    }
    let conf = ConfDir::new("stdout", 8, 64);
    let lines = "1700000000.000001||10.0.0.1||8.8.8.8||IN||a.example.||A||1.2.3.4||300||1\n\
                 1700000000.000002||10.0.0.1||8.8.8.8||IN||b.example.||A||1.2.3.5||300||1\n\
                 short\n";
    let t0 = now();
    let stream = run_stdout(&conf, lines.as_bytes());
    let t1 = now();
    // Spec layout, byte by byte, on the first packet.
    let uuid_raw = hex::decode(UUID.replace('-', "")).unwrap();
    assert_eq!(stream[0], 1, "version");
    assert_eq!(stream[1], 8, "type");
    assert_eq!(&stream[2..18], &uuid_raw[..], "uuid raw bytes");
    let ts = u64::from_le_bytes(stream[18..26].try_into().unwrap());
    assert!((t0..=t1).contains(&ts), "timestamp {ts} is Unix seconds LE");
    let size = u32::from_le_bytes(stream[58..62].try_into().unwrap()) as usize;
    assert_eq!(size, 64, "a 76-byte line is split at snaplen");
    assert_eq!(&stream[62..62 + size], &lines.as_bytes()[..64]);

    let packets = python_decode(&stream);
    let payloads: Vec<&str> = packets
        .iter()
        .map(|p| p["payload"].as_str().unwrap())
        .collect();
    // Each 76-byte line exceeds 64: split, but the pieces stay in order and "short" is whole.
    assert_eq!(payloads.concat(), lines);
    for p in &packets {
        assert_eq!(p["hmac_ok"], true);
        assert_eq!(p["version"], 1);
        assert_eq!(p["type"], 8);
        assert_eq!(p["uuid"], UUID.replace('-', ""));
        assert!(p["size"].as_u64().unwrap() <= 64);
    }
    assert_eq!(payloads.last().copied(), Some("short\n"));
}

/// Lines that fit are packed whole into packets of at most snaplen bytes, never cut.
#[test]
fn lines_are_packed_without_cutting() {
    if !d4_testkit::require("python3") {
        return;
    }
    let conf = ConfDir::new("stdout", 3, 100);
    let input: String = (0..200)
        .map(|i| format!("log line number {i:04}\n"))
        .collect();
    let packets = python_decode(&run_stdout(&conf, input.as_bytes()));
    assert!(packets.len() > 1);
    let mut all = String::new();
    for p in &packets {
        let s = p["payload"].as_str().unwrap();
        assert!(s.ends_with('\n') && s.len() <= 100, "cut record: {s:?}");
        assert_eq!(p["type"], 3);
        all.push_str(s);
    }
    assert_eq!(all, input);
}

/// Binary types: snaplen chunks (1000, 1000, 500), no empty packet at EOF (goclient).
#[test]
fn binary_type_chunks_at_snaplen() {
    let conf = ConfDir::new("stdout", 1, 1000);
    let input: Vec<u8> = (0..2500u32).map(|i| (i % 251) as u8).collect();
    let stream = run_stdout(&conf, &input);
    assert_eq!(stream.len(), 2500 + 3 * 62);
    let mut sizes = Vec::new();
    let mut off = 0;
    while off < stream.len() {
        let size = u32::from_le_bytes(stream[off + 58..off + 62].try_into().unwrap()) as usize;
        sizes.push(size);
        off += 62 + size;
    }
    assert_eq!(sizes, [1000, 1000, 500]);
}

/// Type 254: the raw metaheader.json goes first as type-2 packets (chunked at
/// snaplen), then data as type 254.
#[test]
fn metaheader_then_extended_type() {
    if !d4_testkit::require("python3") {
        return;
    }
    let conf = ConfDir::new("stdout", 254, 20);
    let meta = b"{\n  \"type\": \"ja3-jl\",\n  \"x\": 12345678\n}\n";
    conf.write("metaheader.json", meta);
    let packets = python_decode(&run_stdout(&conf, b"{\"a\":1}\n"));
    let types: Vec<u64> = packets
        .iter()
        .map(|p| p["type"].as_u64().unwrap())
        .collect();
    let n_meta = meta.len().div_ceil(20);
    assert_eq!(types, [vec![2; n_meta], vec![254]].concat());
    let meta_sent: String = packets[..n_meta]
        .iter()
        .map(|p| p["payload"].as_str().unwrap())
        .collect();
    assert_eq!(meta_sent.as_bytes(), meta);
    assert_eq!(packets[n_meta]["payload"], "{\"a\":1}\n");
    assert!(packets.iter().all(|p| p["hmac_ok"] == true));
}

/// A bad config file is a clear error naming the file, exit code non-zero.
#[test]
fn bad_config_exits_with_a_clear_error() {
    let conf = ConfDir::new("stdout", 8, 4096);
    conf.write("snaplen", b"lots\n");
    let mut c = Client::spawn(BIN, &["-c", conf.path().to_str().unwrap()]);
    assert_ne!(c.finish(Duration::from_secs(10)), 0);
    assert!(c.log().contains("snaplen"), "{}", c.log());
}

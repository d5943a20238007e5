//! Interop with the Python side: bcrypt hashes both ways (Python `bcrypt`), a user written
//! the way the Flask web writes it logs in here, and queues created in our UI are read by
//! Python code doing what upstream `Analyzer_Queue.py` does (redis-py).

use super::common::{env, service, Client, PW};
use actix_web::http::StatusCode;

fn python_ok(module: &str) -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            !d4_testkit::in_ci(),
            "python3 module {module} is required under CI=true"
        );
        eprintln!("SKIP: python3 module {module} missing");
    }
    ok
}

#[test]
fn our_hashes_verify_with_python_bcrypt_and_theirs_with_ours() {
    if !d4_testkit::require("python3") || !python_ok("bcrypt") {
        return;
    }
    let h = d4_web::auth::password::hash(PW, 12).unwrap();
    assert!(h.starts_with("$2b$12$"));
    let out = d4_testkit::python(
        "import bcrypt,sys; print(bcrypt.checkpw(sys.argv[1].encode(), sys.argv[2].encode()))",
        &[PW, &h],
    );
    assert_eq!(out.trim(), "True");
    let theirs = d4_testkit::python(
        "import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt()).decode())",
        &[PW],
    );
    assert!(d4_web::auth::password::verify(PW, theirs.trim()));
    assert!(!d4_web::auth::password::verify("wrong", theirs.trim()));
}

/// Writes a user exactly as upstream's Role_Manager does (redis-py, python bcrypt).
const PY_CREATE_USER: &str = r#"
import bcrypt, redis, sys
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
r = redis.Redis(host='127.0.0.1', port=port, db=1, decode_responses=True)
if not r.exists('d4:all_role'):
    r.zadd('d4:all_role', {'admin': 1, 'user': 2, 'sensor_register': 20})
token = 'T' * 41
r.hset('user:tokens', token, user)
r.hset('user_metadata:' + user, 'token', token)
r.hset('user_metadata:' + user, 'role', 'user')
for role in r.zrangebyscore('d4:all_role', 2, 50):
    r.sadd('user_role:' + role, user)
r.hset('user:all', user, bcrypt.hashpw(pw.encode(), bcrypt.gensalt()).decode())
"#;

#[actix_web::test]
async fn a_user_written_by_python_logs_in() {
    if !d4_testkit::require("python3") || !python_ok("bcrypt") || !python_ok("redis") {
        return;
    }
    let Some(e) = env().await else { return };
    let port = e.store.port.to_string();
    d4_testkit::python(PY_CREATE_USER, &[&port, "py@x.test", PW]);
    let mut c = Client::new(service(&e.state).await);
    let r = c.login("py@x.test", PW).await;
    assert_eq!(r.location.as_deref(), Some("/"), "{}", r.body);
    assert_eq!(c.get("/sensors_status").await.status, StatusCode::OK);
    assert_eq!(
        c.get("/settings/users_list").await.status,
        StatusCode::FORBIDDEN,
        "role user only"
    );
    let r = c
        .get_with(
            "/api/v1/sensors/monitoring/errors",
            &[("Authorization", &"T".repeat(41))],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "python-written token works");
}

/// Reads queues the way upstream `Analyzer_Queue.py` does: type index sets, the queue
/// hash, and the analyzer list the workers push to and analyzers pop from.
const PY_READ_QUEUES: &str = r#"
import redis, sys, json
port = int(sys.argv[1])
meta = redis.Redis(host='127.0.0.1', port=port, db=0, decode_responses=True)
ana = redis.Redis(host='127.0.0.1', port=port, db=2, decode_responses=True)
out = {}
for q in sorted(meta.smembers('all_analyzer_queues')):
    h = meta.hgetall('analyzer:' + q)
    t = h['type']
    ext = h.get('metatype')
    key_t = ext if t == '254' else t
    is_group = bool(meta.sismember('analyzer_uuid_group:' + (('254:' + ext) if ext else t), q))
    listed = meta.sismember('analyzer:' + (('254:' + ext) if ext else t), q)
    by_type = meta.sismember('all:analyzer:by:format_type:' + t, q)
    ana.lpush('analyzer:%s:%s' % (key_t, q), 'from-python')
    out[q] = {'type': t, 'description': h.get('description', ''), 'group': is_group,
              'listed': bool(listed), 'by_type': bool(by_type),
              'format_types': sorted(meta.smembers('all:analyzer:format_type')),
              'popped': ana.rpop('analyzer:%s:%s' % (key_t, q))}
print(json.dumps(out, sort_keys=True))
"#;

#[actix_web::test]
async fn queues_created_in_our_ui_are_what_python_reads() {
    if !d4_testkit::require("python3") || !python_ok("redis") {
        return;
    }
    let Some(e) = env().await else { return };
    e.meta(&["SADD", "server:accepted_type", "8", "254"]);
    e.meta(&["SADD", "server:accepted_extended_type", "ja3-jl"]);
    e.user("u@x.test", "user").await;
    let mut c = Client::new(service(&e.state).await);
    c.login("u@x.test", PW).await;
    let q8 = "3c0bd52a-4a1b-4e6c-9a2a-7d1f0e9b8c7d";
    let qx = "0e4e5ecf-4c1c-4e5d-9d0e-5e1f2a3b4c5d";
    let r = c
        .post(
            "/analyzer_queue/create_queue_post",
            &[
                ("analyzer_type", "8"),
                ("analyzer_uuid", q8),
                ("description", "pdns"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FOUND);
    let r = c
        .post(
            "/analyzer_queue/create_queue_post",
            &[
                ("analyzer_type", "254"),
                ("analyzer_metatype", "ja3-jl"),
                ("analyzer_uuid", qx),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FOUND, "{}", r.body);
    let out = d4_testkit::python(PY_READ_QUEUES, &[&e.store.port.to_string()]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    assert_eq!(v[q8]["type"], "8");
    assert_eq!(v[q8]["description"], "pdns");
    assert_eq!(v[q8]["listed"], true);
    assert_eq!(v[q8]["by_type"], true);
    assert_eq!(v[q8]["group"], false);
    assert_eq!(v[q8]["popped"], "from-python");
    assert_eq!(v[qx]["type"], "254");
    assert_eq!(v[qx]["listed"], true);
    assert_eq!(v[q8]["format_types"], serde_json::json!(["254", "8"]));
    // Our page shows what Python pushed and did not pop.
    e.store
        .cmd_db(2, &["LPUSH", &format!("analyzer:8:{q8}"), "a", "b", "c"]);
    let page = c.get("/server_management").await;
    assert!(page.body.contains("queue-length\">3<"));
}

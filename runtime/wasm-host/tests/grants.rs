//! Each grant opens exactly its import, and nothing else is reachable.
//!
//! The `probe` guest (`plugins/probe`) calls the import each record names
//! and returns the result as JSON; these tests grant it HTTP to one
//! origin, a directory, secrets, a state store and a real PostgreSQL
//! database, and check both sides: what the grant allows works against a
//! real server or file system, and what it does not allow fails with
//! `permission-denied` naming the grant.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use serde_json::json;
use sluice_wasm_host::{Grants, HttpOrigin, MemoryState, Secret};

use support::postgres::Postgres;
use support::{denied, probe};

/// A one-shot HTTP server answering every request with its request line.
fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 4096];
            let n = stream.read(&mut buffer).unwrap_or(0);
            let request = String::from_utf8_lossy(&buffer[..n]).into_owned();
            let line = request.lines().next().unwrap_or_default().to_owned();
            let body = format!("you sent: {line}");
            let _ = write!(
                stream,
                "HTTP/1.1 201 Created\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn http_reaches_granted_origins_only() {
    let port = http_server();
    let other = http_server();
    let granted =
        Grants::none().with_http(HttpOrigin::parse(&format!("127.0.0.1:{port}")).unwrap());
    let results = probe(
        granted,
        &[
            json!({"http": {"method": "POST", "url": format!("http://127.0.0.1:{port}/index/_bulk?x=1")}}),
            json!({"http": {"method": "GET", "url": format!("http://127.0.0.1:{other}/")}}),
            json!({"http": {"method": "GET", "url": format!("http://localhost:{port}/")}}),
        ],
    )
    .await;
    assert_eq!(results[0]["ok"]["status"], 201, "{}", results[0]);
    assert_eq!(
        results[0]["ok"]["body"],
        "you sent: POST /index/_bulk?x=1 HTTP/1.1"
    );
    denied(&results[1], &format!("127.0.0.1:{other}"));
    // The grant names an origin, not whatever resolves to it.
    denied(&results[2], &format!("localhost:{port}"));

    let results = probe(
        Grants::none(),
        &[json!({"http": {"method": "GET", "url": format!("http://127.0.0.1:{port}/")}})],
    )
    .await;
    denied(&results[0], "`http` grant");
}

#[tokio::test]
async fn files_stay_inside_the_granted_directory() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "outside").unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
    let results = probe(
        Grants::none().with_files(root.path()),
        &[
            json!({"write": ["out/a.txt", "hello"]}),
            json!({"read": "out/a.txt"}),
            json!({"list": ""}),
            json!({"list": "out"}),
            json!({"read": "missing.txt"}),
            json!({"read": "../secret.txt"}),
            json!({"read": outside.path().join("secret.txt").to_str().unwrap()}),
            json!({"read": "escape/secret.txt"}),
            json!({"write": ["escape/new.txt", "x"]}),
            json!({"remove": "out/a.txt"}),
            json!({"list": "out"}),
        ],
    )
    .await;
    assert_eq!(results[0], json!({"ok": null}));
    assert_eq!(results[1], json!({"ok": "hello"}));
    // A symlink is listed as itself, not followed.
    assert_eq!(results[2], json!({"ok": ["escape", "out/"]}));
    assert_eq!(results[3], json!({"ok": ["a.txt"]}));
    assert_eq!(results[4]["error"]["kind"], "invalid-input");
    assert!(results[4]["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("not found:"));
    for escaped in &results[5..9] {
        denied(escaped, "cannot leave it");
    }
    assert!(!outside.path().join("new.txt").exists());
    assert_eq!(results[9], json!({"ok": null}));
    assert_eq!(results[10], json!({"ok": []}));
    assert_eq!(
        std::fs::read_to_string(root.path().join("out/a.txt")).ok(),
        None
    );

    let results = probe(
        Grants::none(),
        &[json!({"read": "out/a.txt"}), json!({"list": ""})],
    )
    .await;
    denied(&results[0], "`files` grant");
    denied(&results[1], "`files` grant");
}

#[tokio::test]
async fn secrets_and_state_need_their_grants() {
    let grants = Grants::none()
        .with_secret("token", Secret::new("hunter2"))
        .with_state(Arc::new(MemoryState::default()));
    let results = probe(
        grants,
        &[
            json!({"secret": "token"}),
            json!({"secret": "other"}),
            json!({"state_get": "k"}),
            json!({"state_set": ["k", "v"]}),
            json!({"state_get": "k"}),
            json!({"state_delete": "k"}),
            json!({"state_get": "k"}),
        ],
    )
    .await;
    assert_eq!(results[0], json!({"ok": "hunter2"}));
    denied(&results[1], "secret `other`");
    assert!(
        !results[1].to_string().contains("hunter2"),
        "other secrets' values never leak"
    );
    assert_eq!(results[2], json!({"ok": null}));
    assert_eq!(results[4], json!({"ok": "v"}));
    assert_eq!(results[6], json!({"ok": null}));

    let results = probe(
        Grants::none(),
        &[json!({"secret": "token"}), json!({"state_get": "k"})],
    )
    .await;
    denied(&results[0], "`secrets` grant");
    denied(&results[1], "`state` grant");
}

#[tokio::test(flavor = "multi_thread")]
async fn sql_runs_on_the_granted_database() {
    let pg = Postgres::start();
    let grants = Grants::none().with_sql(Secret::new(pg.dsn()));
    let results = probe(
        grants,
        &[
            json!({"execute": {"statement": "CREATE TABLE t (id int PRIMARY KEY, name text, doc jsonb, big bigint, ok bool, ratio float8)"}}),
            json!({"execute": {"statement": "INSERT INTO t VALUES ($1, $2, $3, $4, $5, $6), (2, NULL, NULL, NULL, NULL, NULL)",
                               "params": [1, "zoë", {"a": [1, 2]}, 9_007_199_254_740_993_i64, true, 0.5]}}),
            json!({"sql": {"query": "SELECT id, name, doc, big, ok, ratio FROM t WHERE id >= $1 ORDER BY id", "params": [1]}}),
            json!({"sql": {"query": "SELECT now() AS at"}}),
            json!({"sql": {"query": "SELECT now()::text AS at"}}),
            json!({"sql": {"query": "SELECT * FROM missing_table"}}),
            json!({"execute": {"statement": "INSERT INTO t (id) VALUES ($1)", "params": [1, 2]}}),
        ],
    )
    .await;
    assert_eq!(results[0], json!({"ok": 0}));
    assert_eq!(results[1], json!({"ok": 2}));
    assert_eq!(
        results[2],
        json!({"ok": {"columns": ["id", "name", "doc", "big", "ok", "ratio"], "rows": [
            [1, "zoë", {"json": "{\"a\": [1, 2]}"}, 9_007_199_254_740_993_i64, true, 0.5],
            [2, null, null, null, null, null],
        ]}}),
    );
    assert_eq!(results[3]["error"]["kind"], "invalid-input");
    assert!(
        results[3]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`at::text`"),
        "{}",
        results[3]
    );
    assert!(
        results[4]["ok"]["rows"][0][0]
            .as_str()
            .unwrap()
            .starts_with("20"),
        "{}",
        results[4]
    );
    assert_eq!(results[5]["error"]["kind"], "invalid-input");
    assert!(
        results[5]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("42P01"),
        "{}",
        results[5]
    );
    assert!(results[6]["error"]["message"]
        .as_str()
        .unwrap()
        .contains("1 parameter(s), the call passed 2"));

    let results = probe(Grants::none(), &[json!({"sql": {"query": "SELECT 1"}})]).await;
    denied(&results[0], "`sql` grant");
    let unreachable = Grants::none().with_sql(Secret::new(
        "host=127.0.0.1 port=1 user=x password=pw-not-shown",
    ));
    let results = probe(unreachable, &[json!({"sql": {"query": "SELECT 1"}})]).await;
    assert_eq!(results[0]["error"]["kind"], "unavailable");
    assert!(
        !results[0].to_string().contains("pw-not-shown"),
        "the DSN never appears: {}",
        results[0]
    );
}

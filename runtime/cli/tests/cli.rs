//! The `sluice` binary as a user runs it: `sluice serve` as a child
//! process on free loopback ports with a temp data dir, and the client
//! commands against it, checked on their output and exit codes.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");
/// How long the broker may take to start listening.
const STARTUP: Duration = Duration::from_secs(30);

/// A port nothing listens on right now (bound, then released).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().unwrap().port()
}

/// `sluice serve` running as a child process; killed on drop.
struct Server {
    child: Child,
    brokers: String,
    _data: TempDir,
}

impl Server {
    fn start() -> Server {
        let data = tempfile::Builder::new()
            .prefix("sluice-cli-test")
            .tempdir()
            .unwrap();
        let kafka = free_port();
        let http = free_port();
        let child = Command::new(SLUICE)
            .args(["serve", "--data"])
            .arg(data.path())
            .args(["--kafka", &format!("127.0.0.1:{kafka}")])
            .args(["--http", &format!("127.0.0.1:{http}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sluice serve");
        let brokers = format!("127.0.0.1:{kafka}");
        let server = Server {
            child,
            brokers,
            _data: data,
        };
        server.wait_until_listening(kafka);
        server
    }

    fn wait_until_listening(&self, port: u16) {
        let deadline = Instant::now() + STARTUP;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sluice serve did not listen on {port}"
            );
            std::thread::yield_now();
        }
    }

    /// Runs `sluice ARGS` against this server.
    fn run(&self, args: &[&str]) -> Output {
        self.run_with_input(args, b"")
    }

    fn run_with_input(&self, args: &[&str], input: &[u8]) -> Output {
        run(args, input, &self.brokers)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Our own child, by its handle.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(args: &[&str], input: &[u8], brokers: &str) -> Output {
    let mut child = Command::new(SLUICE)
        .args(args)
        .env("SLUICE_BROKERS", brokers)
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sluice");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().expect("sluice runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Asserts success and returns stdout.
fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(&output),
        stderr(&output)
    );
    stdout(&output)
}

/// Asserts exit code 1 and returns stderr.
fn fails(output: Output) -> String {
    assert_eq!(output.status.code(), Some(1), "stdout: {}", stdout(&output));
    stderr(&output)
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

#[test]
fn topic_create_list_describe_delete() {
    let server = Server::start();
    let created = ok(server.run(&[
        "topic",
        "create",
        "orders",
        "--partitions",
        "3",
        "--config",
        "retention.ms=3600000",
    ]));
    assert_eq!(created, "created topic orders with 3 partitions\n");
    let again = fails(server.run(&["topic", "create", "orders", "--partitions", "1"]));
    assert!(again.contains("TOPIC_ALREADY_EXISTS"), "{again}");

    let table = ok(server.run(&["topic", "list"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "PARTITIONS", "RECORDS"]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["orders", "3", "0"]
    );
    let listed: Value =
        serde_json::from_str(&ok(server.run(&["topic", "list", "--json"]))).unwrap();
    assert_eq!(listed[0]["name"], "orders");
    assert_eq!(listed[0]["partitions"], 3);

    ok(server.run_with_input(&["produce", "orders", "--partition", "1"], b"a\nb\n"));
    let described = ok(server.run(&["topic", "describe", "orders"]));
    assert!(
        described.starts_with("TOPIC       orders\nPARTITIONS  3\nRECORDS     2\n"),
        "{described}"
    );
    let row = described
        .lines()
        .find(|line| line.trim_start().starts_with("1 "))
        .expect("a row for partition 1");
    // PARTITION LEADER REPLICAS ISR LOG-START HIGH-WATERMARK RECORDS
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>()[4..],
        ["0", "2", "2"]
    );
    assert!(
        described.contains("retention.ms *"),
        "the topic's own config is marked:\n{described}"
    );
    let json: Value =
        serde_json::from_str(&ok(server.run(&["topic", "describe", "orders", "--json"]))).unwrap();
    assert_eq!(json["partitions"][1]["high_watermark"], 2);
    let retention = json["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "retention.ms")
        .unwrap();
    assert_eq!(retention["value"], "3600000");
    assert_eq!(retention["default"], false);

    assert_eq!(
        ok(server.run(&["topic", "delete", "orders"])),
        "deleted topic orders\n"
    );
    assert!(!ok(server.run(&["topic", "list"])).contains("orders"));
    let gone = fails(server.run(&["topic", "describe", "orders"]));
    assert!(gone.contains("topic \"orders\" does not exist"), "{gone}");
}

#[test]
fn keyed_lines_come_back_as_json_on_their_keys_partitions() {
    let server = Server::start();
    ok(server.run(&["topic", "create", "events", "--partitions", "4"]));
    let input: String = (0..20)
        .map(|i| format!("user-{}:event {i}\n", i % 5))
        .collect();
    let produced = server.run_with_input(
        &["produce", "events", "--key-separator", ":"],
        input.as_bytes(),
    );
    assert!(
        stderr(&produced).contains("produced 20 records to events"),
        "{}",
        stderr(&produced)
    );
    ok(produced);

    let records = json_lines(&ok(
        server.run(&["consume", "events", "-n", "20", "--format", "json"])
    ));
    assert_eq!(records.len(), 20);
    let mut last_per_key = std::collections::BTreeMap::new();
    for record in &records {
        let key = record["key"].as_str().unwrap();
        let value = record["value"].as_str().unwrap();
        let i: usize = value.strip_prefix("event ").unwrap().parse().unwrap();
        assert_eq!(key, format!("user-{}", i % 5));
        assert_eq!(
            record["partition"],
            sluice_client::partition_for_key(key.as_bytes(), 4),
            "{record}"
        );
        assert_eq!(record["topic"], "events");
        assert!(record["timestamp"].as_i64().unwrap() > 0);
        assert_eq!(record["headers"], serde_json::json!([]));
        // Per key, lines arrive in the order they were written.
        if let Some(previous) = last_per_key.insert(key.to_string(), i) {
            assert!(previous < i, "{key}: {previous} then {i}");
        }
    }

    let values = ok(server.run(&[
        "consume",
        "events",
        "-n",
        "1",
        "--partition",
        "0",
        "--from",
        "0",
    ]));
    assert_eq!(values.lines().count(), 1);
    assert!(
        values.starts_with("event "),
        "the default format prints the value: {values}"
    );

    let missing = fails(server.run_with_input(
        &["produce", "events", "--key-separator", ":"],
        b"no separator\n",
    ));
    assert!(
        missing.contains("line 1 has no key separator \":\""),
        "{missing}"
    );
}

#[test]
fn consume_from_a_timestamp_skips_what_came_before() {
    let server = Server::start();
    ok(server.run(&["topic", "create", "clock", "--partitions", "2"]));
    ok(server.run_with_input(&["produce", "clock"], b"old 1\nold 2\nold 3\n"));
    // Every record so far is stamped before `since`; wait for the clock to
    // pass it so every later record is stamped at or after it.
    let since = now_ms() + 1;
    while now_ms() <= since {
        std::thread::yield_now();
    }
    ok(server.run_with_input(&["produce", "clock"], b"new 1\nnew 2\n"));

    let from = format!("@{since}");
    let records = json_lines(&ok(server.run(&[
        "consume", "clock", "--from", &from, "-n", "2", "--format", "json",
    ])));
    let mut values: Vec<&str> = records
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    values.sort_unstable();
    assert_eq!(values, ["new 1", "new 2"]);
    assert!(records
        .iter()
        .all(|r| r["timestamp"].as_i64().unwrap() >= since as i64));

    let everything = ok(server.run(&["consume", "clock", "--from", "earliest", "-n", "5"]));
    assert_eq!(everything.lines().count(), 5);
    let bad = fails(server.run(&["consume", "clock", "--from", "yesterday"]));
    assert!(
        bad.contains("expected earliest, latest, an offset, or @TIMESTAMP"),
        "{bad}"
    );
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

#[test]
fn group_consumes_resume_and_show_in_group_list_and_describe() {
    let server = Server::start();
    ok(server.run(&["topic", "create", "jobs", "--partitions", "2"]));
    let input: String = (0..6).map(|i| format!("job {i}\n")).collect();
    ok(server.run_with_input(&["produce", "jobs", "--partition", "0"], input.as_bytes()));

    let first = ok(server.run(&["consume", "jobs", "--group", "workers", "-n", "4"]));
    assert_eq!(first, "job 0\njob 1\njob 2\njob 3\n");
    let second = ok(server.run(&["consume", "jobs", "--group", "workers", "-n", "2"]));
    assert_eq!(
        second, "job 4\njob 5\n",
        "the group resumes after its commit"
    );

    let list = ok(server.run(&["group", "list"]));
    let row: Vec<&str> = list
        .lines()
        .nth(1)
        .expect("a group row")
        .split_whitespace()
        .collect();
    assert_eq!(row, ["workers", "Empty", "0", "jobs", "0"], "{list}");

    ok(server.run_with_input(&["produce", "jobs", "--partition", "1"], b"late\n"));
    let described = ok(server.run(&["group", "describe", "workers"]));
    assert!(
        described.contains("GROUP     workers\nSTATE     Empty"),
        "{described}"
    );
    assert!(described.contains("LAG       1\n"), "{described}");
    let json: Value =
        serde_json::from_str(&ok(server.run(&["group", "describe", "workers", "--json"]))).unwrap();
    let partitions = json["partitions"].as_array().unwrap();
    let summary: Vec<(i64, i64, i64)> = partitions
        .iter()
        .map(|p| {
            (
                p["partition"].as_i64().unwrap(),
                p["committed"].as_i64().unwrap(),
                p["lag"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(summary, [(0, 6, 0), (1, 0, 1)]);
    let listed: Value =
        serde_json::from_str(&ok(server.run(&["group", "list", "--json"]))).unwrap();
    assert_eq!(listed[0]["group"], "workers");
    assert_eq!(listed[0]["lag"], 1);

    let unknown = fails(server.run(&["group", "describe", "nobody"]));
    assert!(
        unknown.contains("group \"nobody\" does not exist"),
        "{unknown}"
    );
}

#[test]
fn no_broker_is_a_clear_error_with_a_next_step() {
    let port = free_port();
    let brokers = format!("127.0.0.1:{port}");
    for args in [
        vec!["topic", "list"],
        vec!["consume", "anything", "-n", "1"],
        vec!["group", "list"],
    ] {
        let error = fails(run(&args, b"", &brokers));
        assert_eq!(
            error,
            format!(
                "error: cannot connect to {brokers}: connection refused — is `sluice serve` \
                 running? (set --brokers or SLUICE_BROKERS)\n"
            ),
            "{args:?}"
        );
    }
    let produce = fails(run(&["produce", "t"], b"x\n", &brokers));
    assert!(produce.contains("cannot connect"), "{produce}");
}

#[test]
fn help_documents_flags_and_examples() {
    for (args, wanted) in [
        (
            vec!["consume", "--help"],
            vec![
                "--from",
                "--group",
                "--count",
                "--format",
                "Examples:",
                "SLUICE_BROKERS",
            ],
        ),
        (
            vec!["produce", "--help"],
            vec![
                "--key-separator",
                "--partition",
                "--acks",
                "--compression",
                "Examples:",
            ],
        ),
        (
            vec!["topic", "create", "--help"],
            vec!["--partitions", "--config", "Examples:"],
        ),
        (
            vec!["group", "describe", "--help"],
            vec!["--json", "Lag is"],
        ),
    ] {
        let help = ok(run(&args, b"", "127.0.0.1:9"));
        for flag in wanted {
            assert!(help.contains(flag), "{args:?} --help lacks {flag}:\n{help}");
        }
    }
}

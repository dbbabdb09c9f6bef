//! Every error `sluice pipeline check` reports, with its message and its
//! position. Components come from `cargo xtask wasm` (`target/wasm/`, or
//! `SLUICE_WASM_DIR`), copied into a components directory under the names
//! a pipeline file uses.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sluice_pipeline::{check_files, CheckOptions, Diagnostic};
use sluice_wasm_host::{EngineConfig, WasmEngine};

fn engine() -> &'static WasmEngine {
    static ENGINE: OnceLock<WasmEngine> = OnceLock::new();
    ENGINE.get_or_init(|| WasmEngine::new(EngineConfig::default()).expect("engine"))
}

fn built(name: &str) -> PathBuf {
    let dir = std::env::var_os("SLUICE_WASM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm"));
    let path = dir.join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask wasm`",
        path.display()
    );
    path
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let components = dir.path().join("components");
        std::fs::create_dir(&components).unwrap();
        for (built_name, as_name) in [
            ("mask", "mask"),
            ("filter", "filter"),
            ("misbehave", "misbehave"),
            ("probe-source", "counter-source"),
            ("probe-sink", "lines-sink"),
        ] {
            std::fs::copy(
                built(built_name),
                components.join(format!("{as_name}.wasm")),
            )
            .unwrap();
        }
        Fixture { dir }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn check(&self, files: &[PathBuf]) -> Vec<Diagnostic> {
        let options = CheckOptions {
            components_dir: self.dir.path().join("components"),
        };
        check_files(files, &options, engine())
    }

    /// Checks one file and returns its only diagnostic.
    fn one(&self, text: &str) -> Diagnostic {
        let path = self.write("p.toml", text);
        let mut found = self.check(&[path]);
        assert_eq!(found.len(), 1, "{found:#?}");
        found.remove(0)
    }
}

const GOOD: &str = r#"
name = "orders"

[topics.orders]
partitions = 2
retention = "7d"

[topics.orders-clean]
cleanup = "compact"

[sources.counter]
connector = "counter"
topic = "orders"
config = { records = 10 }
grants = { state = true }

[transforms.clean]
from = "orders"
to = "orders-clean"
plugin = "mask"
config = { fields = ["email"], mode = "hash" }

[sinks.out]
connector = "lines"
from = "orders-clean"
start = "earliest"
transforms = [{ plugin = "filter", config = { field = "op", op = "ne", value = "r" } }]
config = { path = "out.jsonl" }
grants = { files = "/tmp/out" }
on_error = "dead-letter"
limits = { memory_mib = 64, timeout_ms = 2000 }
"#;

fn at(d: &Diagnostic) -> (usize, usize) {
    (d.line, d.column)
}

#[test]
fn a_good_file_has_no_errors() {
    let fixture = Fixture::new();
    let path = fixture.write("orders.toml", GOOD);
    assert_eq!(fixture.check(&[path]), []);
}

#[test]
fn an_unknown_key_is_reported_where_it_is_with_the_likely_key() {
    let d = Fixture::new().one(&GOOD.replace("start = \"earliest\"", "strat = \"earliest\""));
    assert_eq!(at(&d), (26, 1));
    assert!(d.message.contains("unknown field `strat`"), "{d}");
    assert_eq!(d.hint.as_deref(), Some("did you mean `start`?"));
    assert!(
        d.to_string()
            .starts_with(&format!("{}:26:1: unknown field", d.file.display())),
        "{d}"
    );
}

#[test]
fn a_missing_field_is_reported_at_its_table() {
    let d = Fixture::new().one(&GOOD.replace("plugin = \"mask\"\n", ""));
    assert!(d.message.contains("missing field `plugin`"), "{d}");
    assert_eq!(d.line, 17, "{d}"); // the [transforms.clean] header
}

#[test]
fn a_wrong_type_is_reported_at_the_value() {
    let d = Fixture::new().one(&GOOD.replace("partitions = 2", "partitions = \"two\""));
    assert_eq!(at(&d), (5, 14), "{d}");
    assert!(d.message.contains("invalid type"), "{d}");
}

#[test]
fn a_syntax_error_is_reported_where_it_is() {
    let d = Fixture::new().one(&GOOD.replace("retention = \"7d\"", "retention = \"7d"));
    assert_eq!(d.line, 6, "{d}");
}

#[test]
fn a_from_topic_nobody_declares_is_an_error_with_the_likely_topic() {
    let d = Fixture::new().one(&GOOD.replace("from = \"orders-clean\"", "from = \"orders-clan\""));
    assert_eq!(at(&d), (25, 8), "{d}");
    assert_eq!(
        d.message,
        "topic `orders-clan` is not declared by any pipeline file"
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `orders-clean`?"));
}

#[test]
fn a_topic_declared_by_another_file_counts() {
    let fixture = Fixture::new();
    let topics = fixture.write("topics.toml", "[topics.shared]\n");
    let user = fixture.write(
        "user.toml",
        "[sinks.out]\nconnector = \"lines\"\nfrom = \"shared\"\nconfig = { path = \"x\" }\ngrants = { files = \"/tmp\" }\n",
    );
    assert_eq!(fixture.check(&[topics, user.clone()]), []);
    let alone = fixture.check(&[user]);
    assert_eq!(alone.len(), 1);
    assert_eq!(
        alone[0].hint.as_deref(),
        Some("declare it in a pipeline file: [topics.shared]")
    );
}

#[test]
fn a_component_that_does_not_exist_is_an_error_with_the_likely_name() {
    let d = Fixture::new().one(&GOOD.replace("plugin = \"mask\"", "plugin = \"maks\""));
    assert_eq!(at(&d), (20, 10), "{d}");
    assert!(
        d.message
            .starts_with("transforms.clean: there is no bundled plugin named `maks`"),
        "{d}"
    );
    assert_eq!(d.hint.as_deref(), Some("did you mean `mask`?"));

    let d = Fixture::new().one(&GOOD.replace("plugin = \"mask\"", "plugin = \"./gone.wasm\""));
    assert!(d.message.contains("no component file at"), "{d}");
}

#[test]
fn a_component_of_the_wrong_world_is_an_error() {
    let d = Fixture::new().one(&GOOD.replace("connector = \"lines\"", "connector = \"mask\""));
    assert_eq!(at(&d), (24, 13), "{d}");
    assert!(
        d.message.contains(
            "is a transform component, this stage needs a sink (exporting open, write, flush)"
        ),
        "{d}"
    );
}

#[test]
fn a_grant_missing_for_an_import_is_an_error() {
    let d = Fixture::new().one(&GOOD.replace("grants = { files = \"/tmp/out\" }\n", ""));
    assert_eq!(at(&d), (24, 13), "{d}");
    assert_eq!(
        d.message,
        "sinks.out: the component imports `files`, which the stage does not grant"
    );
    assert_eq!(
        d.hint.as_deref(),
        Some("add `grants = { files = \"/path/to/dir\" }` to the stage")
    );
}

#[test]
fn bad_values_are_errors_at_the_value() {
    let fixture = Fixture::new();
    let d = fixture.one(&GOOD.replace("retention = \"7d\"", "retention = \"7 days\""));
    assert_eq!(at(&d), (6, 13), "{d}");
    assert!(d.message.contains("is not a duration"), "{d}");
    let d = fixture.one(&GOOD.replace("start = \"earliest\"", "start = \"beginning\""));
    assert!(
        d.message.contains("not earliest, latest or @TIMESTAMP"),
        "{d}"
    );
    let d = fixture.one(&GOOD.replace(
        "grants = { files = \"/tmp/out\" }",
        "grants = { files = \"/tmp/out\", http = [\"localhost\"] }",
    ));
    assert!(d.message.contains("is not host:port"), "{d}");
    let d = fixture.one(&GOOD.replace("path = \"out.jsonl\"", "path = \"${HOME}/out.jsonl\""));
    assert!(d.message.contains("write `${env:NAME}`"), "{d}");
    let d = fixture.one(&GOOD.replace("partitions = 2", "partitions = 0"));
    assert!(d.message.contains("at least 1 partition"), "{d}");
}

#[test]
fn two_pipelines_with_one_name_are_an_error() {
    let fixture = Fixture::new();
    let a = fixture.write("a.toml", GOOD);
    let b = fixture.write("b.toml", &GOOD.replace("[topics.orders]\npartitions = 2\nretention = \"7d\"\n\n[topics.orders-clean]\ncleanup = \"compact\"\n", ""));
    let found = fixture.check(&[a, b]);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0]
            .message
            .contains("a pipeline named `orders` is already defined"),
        "{}",
        found[0]
    );
}

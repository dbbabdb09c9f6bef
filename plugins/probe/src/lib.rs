//! `probe`: a transform that calls the host's imports as each record asks,
//! so tests can check what a grant opens and what its absence closes.
//!
//! Config: `{}`. Each record's value is a JSON command; the output record's
//! value is the JSON result, `{"ok": ...}` or `{"error": {"kind", "message"}}`:
//!
//! | command | calls |
//! |---|---|
//! | `{"http": {"method", "url", "body"?}}` | `http.send`; ok is `{"status", "body"}` (body as text) |
//! | `{"sql": {"query": "...", "params": [...]}}` | `sql.query`; params are JSON null/bool/int/float/string; ok is `{"columns", "rows"}` |
//! | `{"execute": {"statement": "...", "params": [...]}}` | `sql.execute`; ok is the row count |
//! | `{"read": "path"}`, `{"write": ["path", "text"]}`, `{"list": "dir"}`, `{"remove": "path"}` | `files.*` |
//! | `{"read_range": ["path", offset, len]}`, `{"append": ["path", "text"]}` | `files.read-range`, `files.append` |
//! | `{"secret": "name"}` | `secrets.get` |
//! | `{"state_set": ["k", "v"]}`, `{"state_get": "k"}`, `{"state_delete": "k"}` | `state.*` |

use serde_json::{json, Value};
use sluice_guest::host::{files, http, secrets, sql, state};
use sluice_guest::{Error, ErrorKind, Output, Record, Transform};

struct Probe;

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidConfig => "invalid-config",
        ErrorKind::InvalidInput => "invalid-input",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::PermissionDenied => "permission-denied",
        ErrorKind::Internal => "internal",
    }
}

fn result<T>(outcome: Result<T, Error>, ok: impl FnOnce(T) -> Value) -> Value {
    match outcome {
        Ok(value) => json!({ "ok": ok(value) }),
        Err(error) => {
            json!({ "error": { "kind": kind_name(error.kind), "message": error.message } })
        }
    }
}

fn sql_param(value: &Value) -> sql::Value {
    match value {
        Value::Null => sql::Value::Null,
        Value::Bool(b) => sql::Value::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => sql::Value::Integer(i),
            None => sql::Value::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => sql::Value::Text(s.clone()),
        other => sql::Value::Json(other.to_string()),
    }
}

fn sql_json(value: sql::Value) -> Value {
    match value {
        sql::Value::Null => Value::Null,
        sql::Value::Boolean(b) => json!(b),
        sql::Value::Integer(i) => json!(i),
        sql::Value::Double(d) => json!(d),
        sql::Value::Text(t) => json!(t),
        sql::Value::Bytes(b) => json!({ "bytes": b }),
        sql::Value::Json(j) => json!({ "json": j }),
    }
}

fn params(command: &Value) -> Vec<sql::Value> {
    command["params"]
        .as_array()
        .map(|items| items.iter().map(sql_param).collect())
        .unwrap_or_default()
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn run(command: &Value) -> Value {
    if let Some(request) = command.get("http") {
        let outcome = http::send(&http::Request {
            method: text(&request["method"]),
            url: text(&request["url"]),
            headers: vec![],
            body: text(&request["body"]).into_bytes(),
            timeout_ms: None,
        });
        return result(
            outcome,
            |r| json!({ "status": r.status, "body": String::from_utf8_lossy(&r.body) }),
        );
    }
    if let Some(query) = command.get("sql") {
        let outcome = sql::query(&text(&query["query"]), &params(query));
        return result(outcome, |rows| {
            json!({
                "columns": rows.columns,
                "rows": rows.rows.into_iter().map(|row| row.into_iter().map(sql_json).collect::<Vec<_>>()).collect::<Vec<_>>(),
            })
        });
    }
    if let Some(statement) = command.get("execute") {
        return result(
            sql::execute(&text(&statement["statement"]), &params(statement)),
            |n| json!(n),
        );
    }
    if let Some(path) = command.get("read") {
        return result(files::read(&text(path)), |b| {
            json!(String::from_utf8_lossy(&b))
        });
    }
    if let Some(args) = command.get("write") {
        return result(
            files::write(&text(&args[0]), text(&args[1]).as_bytes()),
            |()| json!(null),
        );
    }
    if let Some(args) = command.get("read_range") {
        let number = |v: &Value| v.as_u64().unwrap_or_default();
        return result(
            files::read_range(
                &text(&args[0]),
                number(&args[1]),
                u32::try_from(number(&args[2])).unwrap_or(u32::MAX),
            ),
            |b| json!(String::from_utf8_lossy(&b)),
        );
    }
    if let Some(args) = command.get("append") {
        return result(
            files::append(&text(&args[0]), text(&args[1]).as_bytes()),
            |()| json!(null),
        );
    }
    if let Some(dir) = command.get("list") {
        return result(files::list_dir(&text(dir)), |names| json!(names));
    }
    if let Some(path) = command.get("remove") {
        return result(files::remove(&text(path)), |()| json!(null));
    }
    if let Some(name) = command.get("secret") {
        return result(secrets::get(&text(name)), |s| json!(s));
    }
    if let Some(args) = command.get("state_set") {
        return result(
            state::set(text(&args[0]).as_bytes(), text(&args[1]).as_bytes()),
            |()| json!(null),
        );
    }
    if let Some(key) = command.get("state_get") {
        return result(state::get(text(key).as_bytes()), |v| {
            json!(v.map(|v| String::from_utf8_lossy(&v).into_owned()))
        });
    }
    if let Some(key) = command.get("state_delete") {
        return result(state::delete(text(key).as_bytes()), |()| json!(null));
    }
    json!({ "error": { "kind": "unknown-command", "message": command.to_string() } })
}

impl Transform for Probe {
    fn init(_config: &str) -> Result<Self, Error> {
        Ok(Probe)
    }

    fn process(&mut self, batch: Vec<Record>) -> Result<Vec<Output>, Error> {
        batch
            .into_iter()
            .map(|mut record| {
                let command: Value = serde_json::from_slice(
                    record.value.as_deref().unwrap_or_default(),
                )
                .map_err(|e| {
                    Error::invalid_input(format!("probe: a record is not a JSON command: {e}"))
                })?;
                record.value = Some(run(&command).to_string().into_bytes());
                Ok(Output::to_default(record))
            })
            .collect()
    }
}

sluice_guest::export_transform!(Probe);

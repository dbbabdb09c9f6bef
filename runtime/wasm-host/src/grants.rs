//! What a stage may use beyond `log`: its grants, all denied by default.
//!
//! The pipeline file grants each import per stage (`grants = { http =
//! ["127.0.0.1:9200"], sql = ["${env:PG_DSN}"], files = "/data/in",
//! secrets = { token = "${env:TOKEN}" }, state = true }`); the pipeline
//! engine resolves that into a [`Grants`] value and the host functions check
//! it on every call. A call without its grant returns `permission-denied`
//! naming the grant and how to add it.
//!
//! Secret values and DSNs never appear in `Debug` output, logs or errors.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::state_store::StateStore;

/// A host import that needs a grant in the pipeline file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Grant {
    Secrets,
    State,
    Http,
    Sql,
    Files,
}

impl Grant {
    pub const ALL: [Grant; 5] = [
        Grant::Secrets,
        Grant::State,
        Grant::Http,
        Grant::Sql,
        Grant::Files,
    ];

    /// The key that grants it in a stage's `grants` table.
    pub fn key(self) -> &'static str {
        match self {
            Grant::Secrets => "secrets",
            Grant::State => "state",
            Grant::Http => "http",
            Grant::Sql => "sql",
            Grant::Files => "files",
        }
    }

    /// The contract interface it guards (`sluice:pipeline/<name>`).
    pub fn interface(self) -> &'static str {
        self.key()
    }

    /// An example of the grant, for error messages.
    pub(crate) fn example(self) -> &'static str {
        match self {
            Grant::Secrets => r#"grants = { secrets = { name = "${env:NAME}" } }"#,
            Grant::State => "grants = { state = true }",
            Grant::Http => r#"grants = { http = ["host:port"] }"#,
            Grant::Sql => r#"grants = { sql = ["${env:PG_DSN}"] }"#,
            Grant::Files => r#"grants = { files = "/path/to/dir" }"#,
        }
    }
}

/// A secret value; shown as `***` by `Debug` and `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself: only for handing to the guest or a connection.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// An HTTP origin a stage may reach: a host name or IP and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOrigin {
    pub host: String,
    pub port: u16,
}

impl HttpOrigin {
    /// Parses `host:port` (`[::1]:9200` for IPv6). The port is required: a
    /// grant names exactly what it opens.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (host, port) = text.rsplit_once(':').ok_or_else(|| {
            format!("http grant {text:?} is not host:port (e.g. \"127.0.0.1:9200\")")
        })?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("http grant {text:?} has no valid port after the last `:`"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("http grant {text:?} has an empty host"));
        }
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl fmt::Display for HttpOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// What a stage may use beyond `log`. [`Grants::default`] grants nothing.
#[derive(Clone, Default)]
pub struct Grants {
    secrets: BTreeMap<String, Secret>,
    state: Option<Arc<dyn StateStore>>,
    http: Vec<HttpOrigin>,
    sql: Option<Secret>,
    files: Option<PathBuf>,
}

impl fmt::Debug for Grants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grants")
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .field("state", &self.state.is_some())
            .field(
                "http",
                &self
                    .http
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>(),
            )
            .field("sql", &self.sql.is_some())
            .field("files", &self.files)
            .finish()
    }
}

impl Grants {
    /// Grants nothing: only `log` works.
    pub fn none() -> Self {
        Self::default()
    }

    /// Lets the stage read the secret `name`.
    pub fn with_secret(mut self, name: impl Into<String>, value: Secret) -> Self {
        self.secrets.insert(name.into(), value);
        self
    }

    /// Gives the stage a key-value store of its own.
    pub fn with_state(mut self, store: Arc<dyn StateStore>) -> Self {
        self.state = Some(store);
        self
    }

    /// Lets the stage send HTTP requests to `origin`.
    pub fn with_http(mut self, origin: HttpOrigin) -> Self {
        self.http.push(origin);
        self
    }

    /// Lets the stage run SQL on the PostgreSQL database at `dsn`
    /// (`postgres://user:pass@host:port/db` or `host=... user=...`).
    pub fn with_sql(mut self, dsn: Secret) -> Self {
        self.sql = Some(dsn);
        self
    }

    /// Lets the stage read and write files under `dir`.
    pub fn with_files(mut self, dir: impl Into<PathBuf>) -> Self {
        self.files = Some(dir.into());
        self
    }

    /// Whether the stage holds `grant` at all.
    pub fn allows(&self, grant: Grant) -> bool {
        match grant {
            Grant::Secrets => !self.secrets.is_empty(),
            Grant::State => self.state.is_some(),
            Grant::Http => !self.http.is_empty(),
            Grant::Sql => self.sql.is_some(),
            Grant::Files => self.files.is_some(),
        }
    }

    pub(crate) fn secret(&self, name: &str) -> Option<&Secret> {
        self.secrets.get(name)
    }

    pub(crate) fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(String::as_str)
    }

    pub(crate) fn state(&self) -> Option<&Arc<dyn StateStore>> {
        self.state.as_ref()
    }

    pub(crate) fn http_origins(&self) -> &[HttpOrigin] {
        &self.http
    }

    pub(crate) fn sql_dsn(&self) -> Option<&Secret> {
        self.sql.as_ref()
    }

    pub(crate) fn files_dir(&self) -> Option<&Path> {
        self.files.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_with_a_required_port() {
        assert_eq!(
            HttpOrigin::parse("Search.Local:9200").unwrap(),
            HttpOrigin {
                host: "search.local".into(),
                port: 9200
            }
        );
        assert_eq!(HttpOrigin::parse("[::1]:80").unwrap().host, "::1");
        assert_eq!(
            HttpOrigin::parse("[::1]:80").unwrap().to_string(),
            "[::1]:80"
        );
        for bad in ["localhost", "localhost:http", ":80", "host:99999"] {
            assert!(HttpOrigin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_secret_values_or_the_dsn() {
        let grants = Grants::none()
            .with_secret("token", Secret::new("hunter2"))
            .with_sql(Secret::new("postgres://u:pw@h/db"));
        let shown = format!("{grants:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("pw@"),
            "{shown}"
        );
        assert!(shown.contains("token"), "{shown}");
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        for grant in Grant::ALL {
            assert!(!Grants::none().allows(grant), "{grant:?}");
        }
    }
}

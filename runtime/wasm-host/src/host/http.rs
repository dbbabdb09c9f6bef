//! `http.send`: one whole request, one whole response, to granted origins.
//!
//! The URL's host and port (the scheme's default when absent) must equal a
//! granted `host:port`; anything else is `permission-denied` naming the
//! origin. Redirects are not followed (a redirect could leave the granted
//! origins): the guest sees the 3xx response. An HTTP error status is a
//! response, not an error; failing to connect, a timeout or a broken body
//! are `unavailable` (the host retries those). The timeout is the
//! request's `timeout-ms`, else the stage's call deadline.

use std::sync::OnceLock;
use std::time::Duration;

use crate::bindings::transform::sluice::pipeline::{http, types};
use crate::grants::{Grant, HttpOrigin};

use super::HostState;

/// One client for the process: connection pools are shared by all stages
/// (each request is still checked against its own stage's grants).
fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("the HTTP client's TLS backend initializes")
    })
}

fn error(kind: types::ErrorKind, message: String) -> types::Error {
    types::Error { kind, message }
}

impl HostState {
    /// The URL parsed and checked against the stage's granted origins.
    fn granted_url(&self, url: &str) -> Result<reqwest::Url, types::Error> {
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            error(
                types::ErrorKind::InvalidInput,
                format!("`http.send`: {url:?} is not an absolute URL: {e}"),
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(error(
                types::ErrorKind::InvalidInput,
                format!("`http.send`: {url:?} is not an http:// or https:// URL"),
            ));
        }
        let host = parsed
            .host_str()
            .map(|h| {
                h.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let port = parsed.port_or_known_default().unwrap_or(0);
        let origin = HttpOrigin { host, port };
        if self.grants.http_origins().contains(&origin) {
            return Ok(parsed);
        }
        tracing::debug!(stage = %self.stage, %origin, "http origin denied");
        Err(error(
            types::ErrorKind::PermissionDenied,
            format!(
                "`http.send` to {origin} needs the `http` grant for that origin in stage \
                 `{stage}` (granted: {granted}): add \"{origin}\" to `grants.http` in the \
                 pipeline file",
                stage = self.stage,
                granted = self
                    .grants
                    .http_origins()
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        ))
    }
}

impl http::Host for HostState {
    async fn send(&mut self, request: http::Request) -> Result<http::Response, types::Error> {
        self.check(Grant::Http, "http.send")?;
        let url = self.granted_url(&request.url)?;
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).map_err(|_| {
            error(
                types::ErrorKind::InvalidInput,
                format!("`http.send`: {:?} is not an HTTP method", request.method),
            )
        })?;
        let timeout = request
            .timeout_ms
            .map(|ms| Duration::from_millis(u64::from(ms)))
            .unwrap_or(self.deadline);
        let mut builder = client()
            .request(method.clone(), url.clone())
            .timeout(timeout)
            .body(request.body);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let unavailable = |e: reqwest::Error| {
            // reqwest's Display includes the URL; no credentials are in it
            // unless the guest put them there itself.
            let kind = if e.is_builder() {
                types::ErrorKind::InvalidInput
            } else {
                types::ErrorKind::Unavailable
            };
            error(
                kind,
                format!("`http.send` {method} {url}: {}", error_chain(&e)),
            )
        };
        let response = builder.send().await.map_err(unavailable)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response.bytes().await.map_err(unavailable)?;
        Ok(http::Response {
            status,
            headers,
            body: body.to_vec(),
        })
    }
}

/// An error and its causes on one line (`connection refused` is a cause).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

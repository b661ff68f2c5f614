//! HTTP transport to the tracking server: one ureq agent (kept-alive connections, rustls),
//! authentication, error mapping and a count of the requests sent. The endpoints themselves are
//! in `api.rs`.

use super::tracking::Tracking;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use ureq::Agent;

/// Largest response body read: a page of 1,000 searched runs with their params and tags.
const MAX_BODY: u64 = 256 * 1024 * 1024;
/// Statuses worth a second try of a request that is safe to repeat.
const RETRY_STATUSES: [u16; 5] = [429, 500, 502, 503, 504];
/// Pauses before the second and third try.
const RETRY_PAUSES: [Duration; 2] = [Duration::from_millis(200), Duration::from_millis(800)];

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No HTTP answer at all: refused, timed out, DNS, TLS.
    #[error("cannot reach the MLflow tracking server at {uri}: {reason}")]
    Unreachable { uri: String, reason: String },
    /// The server answered with an error status; `message` is its own error text.
    #[error("the MLflow server at {uri} refused {endpoint} (HTTP {status}): {message}")]
    Status {
        uri: String,
        endpoint: String,
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected answer from the MLflow server at {uri} to {endpoint}: {reason}")]
    Decode {
        uri: String,
        endpoint: String,
        reason: String,
    },
}

impl ApiError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Status { status: 404, .. })
            || matches!(self, ApiError::Status { code, .. } if code == "RESOURCE_DOES_NOT_EXIST")
    }

    pub fn is_already_exists(&self) -> bool {
        matches!(self, ApiError::Status { code, .. } if code == "RESOURCE_ALREADY_EXISTS")
    }

    /// Errors after which no other request can be expected to succeed either.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            ApiError::Unreachable { .. }
                | ApiError::Status {
                    status: 401 | 403,
                    ..
                }
        )
    }
}

/// How long to wait for the server.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// For a whole request, body included.
    pub request: Duration,
}

pub struct Client {
    agent: Agent,
    tracking: Tracking,
    requests: AtomicUsize,
}

/// A request body.
pub enum Body<'a> {
    None,
    Json(&'a serde_json::Value),
    Bytes(&'a [u8]),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    Get,
    Post,
    Put,
}

/// Whether a request may be sent again after a failed answer: only when repeating it cannot
/// create a second run or a second metric point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Retry {
    Safe,
    Never,
}

impl Client {
    pub fn new(tracking: Tracking, timeouts: Timeouts) -> Client {
        let tls = ureq::tls::TlsConfig::builder()
            .disable_verification(tracking.insecure_tls)
            .build();
        let agent: Agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(timeouts.connect))
            .timeout_global(Some(timeouts.request))
            .tls_config(tls)
            .user_agent(format!("aerocast/{}", crate::VERSION))
            .build()
            .into();
        Client {
            agent,
            tracking,
            requests: AtomicUsize::new(0),
        }
    }

    pub fn uri(&self) -> &str {
        self.tracking.display()
    }

    /// HTTP requests sent so far (retries included).
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Sends a request to `path` (below the server's base URI) and decodes the JSON answer.
    pub fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Body,
        retry: Retry,
    ) -> Result<T, ApiError> {
        let text = self.send_with_retries(method, path, query, &body, retry)?;
        let text = if text.trim().is_empty() { "{}" } else { &text };
        serde_json::from_str(text).map_err(|e| ApiError::Decode {
            uri: self.uri().to_string(),
            endpoint: path.to_string(),
            reason: e.to_string(),
        })
    }

    fn send_with_retries(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: &Body,
        retry: Retry,
    ) -> Result<String, ApiError> {
        let mut attempt = 0;
        loop {
            match self.send(method, path, query, body) {
                Err(ApiError::Status { status, .. })
                    if retry == Retry::Safe
                        && RETRY_STATUSES.contains(&status)
                        && attempt < RETRY_PAUSES.len() =>
                {
                    std::thread::sleep(RETRY_PAUSES[attempt]);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: &Body,
    ) -> Result<String, ApiError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let url = format!("{}{path}", self.tracking.base);
        let auth = self.tracking.auth_header();
        let result = match method {
            Method::Get => {
                let mut req = self.agent.get(&url);
                if let Some(a) = auth {
                    req = req.header("Authorization", a);
                }
                req.query_pairs(query.iter().copied()).call()
            }
            Method::Post | Method::Put => {
                let mut req = if method == Method::Post {
                    self.agent.post(&url)
                } else {
                    self.agent.put(&url)
                };
                if let Some(a) = auth {
                    req = req.header("Authorization", a);
                }
                let req = req.query_pairs(query.iter().copied());
                match body {
                    Body::Json(v) => req
                        .header("Content-Type", "application/json")
                        .send(serde_json::to_vec(v).expect("JSON values serialise")),
                    Body::Bytes(b) => req
                        .header("Content-Type", "application/octet-stream")
                        .send(*b),
                    Body::None => req.send_empty(),
                }
            }
        };
        let mut response = result.map_err(|e| ApiError::Unreachable {
            uri: self.uri().to_string(),
            reason: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| ApiError::Unreachable {
                uri: self.uri().to_string(),
                reason: format!("reading the answer to {path}: {e}"),
            })?;
        if (200..300).contains(&status) {
            return Ok(text);
        }
        let (code, message) = match serde_json::from_str::<super::wire::ErrorBody>(&text) {
            Ok(b) if !b.message.is_empty() => (b.error_code, b.message),
            _ => (String::new(), shorten(text.trim())),
        };
        Err(ApiError::Status {
            uri: self.uri().to_string(),
            endpoint: path.to_string(),
            status,
            code,
            message,
        })
    }
}

/// A non-JSON error page, cut to a readable length.
fn shorten(text: &str) -> String {
    const MAX: usize = 500;
    if text.len() <= MAX {
        return text.to_string();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

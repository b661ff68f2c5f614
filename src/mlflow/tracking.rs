//! Where the tracking server is and how to authenticate, read the way MLflow's own client reads
//! them: `MLFLOW_TRACKING_TOKEN` (bearer), `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`
//! (basic), `MLFLOW_TRACKING_INSECURE_TLS`. Secrets never appear in `Debug` output or messages.

use crate::error::InputError;
use base64::Engine;
use ureq::http::Uri;

/// A tracking server to talk to.
#[derive(Clone)]
pub struct Tracking {
    /// `scheme://host[:port][/prefix]`, without credentials or a trailing slash.
    pub base: String,
    /// The `Authorization` header value, if any.
    auth: Option<String>,
    pub insecure_tls: bool,
}

impl std::fmt::Debug for Tracking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracking")
            .field("base", &self.base)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .field("insecure_tls", &self.insecure_tls)
            .finish()
    }
}

/// The environment variables MLflow's client reads, as a lookup (the process environment in
/// use, a map in tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Tracking {
    /// `uri` (or `MLFLOW_TRACKING_URI` when `None`) with credentials from `env`. Only HTTP(S)
    /// servers can be mirrored to: a local `file:` or `sqlite:` store has no REST API.
    pub fn new(uri: Option<&str>, env: Env) -> Result<Tracking, InputError> {
        let uri = match uri
            .map(str::to_string)
            .or_else(|| env("MLFLOW_TRACKING_URI"))
        {
            Some(u) => u,
            None => {
                return Err(InputError::usage(
                    "--tracking-uri",
                    "no MLflow tracking server given (pass --tracking-uri or set MLFLOW_TRACKING_URI)",
                ));
            }
        };
        let lower = uri.trim().to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(InputError::usage(
                "--tracking-uri",
                format!(
                    "{} is not an http(s) tracking server; aerocast mirrors through MLflow's REST API",
                    redact(&uri)
                ),
            ));
        }
        let parsed: Uri = uri.trim().parse().map_err(|e| {
            InputError::usage(
                "--tracking-uri",
                format!("not a URI ({e}): {}", redact(&uri)),
            )
        })?;
        let scheme = parsed.scheme_str().unwrap_or("http").to_ascii_lowercase();
        let authority = parsed.authority().map_or("", |a| a.as_str());
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let path = parsed.path().trim_end_matches('/');
        let base = format!("{scheme}://{host}{path}");
        Ok(Tracking {
            base,
            auth: auth_header(env, userinfo),
            insecure_tls: insecure_tls(env)?,
        })
    }

    pub fn auth_header(&self) -> Option<&str> {
        self.auth.as_deref()
    }

    /// The URI to show the user: no credentials.
    pub fn display(&self) -> &str {
        &self.base
    }
}

/// A token wins over a user name and password, as in MLflow's client; credentials written in
/// the URI are used when the environment gives none.
fn auth_header(env: Env, userinfo: Option<&str>) -> Option<String> {
    if let Some(token) = env("MLFLOW_TRACKING_TOKEN") {
        return Some(format!("Bearer {token}"));
    }
    let (user, password) = match (
        env("MLFLOW_TRACKING_USERNAME"),
        env("MLFLOW_TRACKING_PASSWORD"),
    ) {
        (Some(u), p) => (u, p.unwrap_or_default()),
        (None, _) => {
            let (u, p) = userinfo?.split_once(':').unwrap_or((userinfo?, ""));
            (u.to_string(), p.to_string())
        }
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    Some(format!("Basic {encoded}"))
}

fn insecure_tls(env: Env) -> Result<bool, InputError> {
    match env("MLFLOW_TRACKING_INSECURE_TLS")
        .map(|v| v.to_ascii_lowercase())
        .as_deref()
    {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") => Ok(true),
        Some(other) => Err(InputError::usage(
            "MLFLOW_TRACKING_INSECURE_TLS",
            format!("must be true or false, got \"{other}\""),
        )),
    }
}

/// `uri` with any `user:password@` removed, for messages.
pub fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}{}", &uri[..s + 3], &uri[at + 1..]),
        _ => uri.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn with(vars: &[(&str, &str)], uri: Option<&str>) -> Result<Tracking, InputError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Tracking::new(uri, &move |k| map.get(k).cloned())
    }

    #[test]
    fn uri_comes_from_the_flag_or_the_environment() {
        let t = with(&[("MLFLOW_TRACKING_URI", "http://env:5000/")], None).unwrap();
        assert_eq!(t.base, "http://env:5000");
        let t = with(
            &[("MLFLOW_TRACKING_URI", "http://env:5000")],
            Some("https://flag/ml/"),
        )
        .unwrap();
        assert_eq!(t.base, "https://flag/ml");
        let e = with(&[], None).unwrap_err();
        assert!(e.message.contains("MLFLOW_TRACKING_URI"), "{e}");
    }

    #[test]
    fn only_http_servers_are_accepted() {
        for uri in ["file:///tmp/mlruns", "sqlite:///x.db", "databricks"] {
            let e = with(&[], Some(uri)).unwrap_err();
            assert!(e.message.contains("http"), "{uri}: {e}");
        }
    }

    #[test]
    fn token_beats_basic_auth_and_secrets_are_redacted() {
        let t = with(
            &[
                ("MLFLOW_TRACKING_TOKEN", "s3cret"),
                ("MLFLOW_TRACKING_USERNAME", "u"),
            ],
            Some("http://h"),
        )
        .unwrap();
        assert_eq!(t.auth_header(), Some("Bearer s3cret"));
        assert!(!format!("{t:?}").contains("s3cret"));

        let t = with(
            &[
                ("MLFLOW_TRACKING_USERNAME", "alice"),
                ("MLFLOW_TRACKING_PASSWORD", "pw"),
            ],
            Some("http://h"),
        )
        .unwrap();
        // base64("alice:pw")
        assert_eq!(t.auth_header(), Some("Basic YWxpY2U6cHc="));
    }

    #[test]
    fn credentials_in_the_uri_become_basic_auth_and_leave_the_shown_uri() {
        let t = with(&[], Some("http://alice:pw@h:5000/x")).unwrap();
        assert_eq!(t.display(), "http://h:5000/x");
        assert_eq!(t.auth_header(), Some("Basic YWxpY2U6cHc="));
        assert_eq!(redact("http://alice:pw@h:5000"), "http://h:5000");
        let e = with(&[], Some("ftp://alice:pw@h")).unwrap_err();
        assert!(!e.to_string().contains("pw"), "{e}");
    }

    #[test]
    fn insecure_tls_is_a_boolean() {
        let on = [("MLFLOW_TRACKING_INSECURE_TLS", "TRUE")];
        assert!(with(&on, Some("https://h")).unwrap().insecure_tls);
        assert!(!with(&[], Some("https://h")).unwrap().insecure_tls);
        let bad = [("MLFLOW_TRACKING_INSECURE_TLS", "maybe")];
        assert!(with(&bad, Some("https://h")).is_err());
    }
}

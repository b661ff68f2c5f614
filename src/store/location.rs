//! Where a store lives: a folder (SQLite) or a PostgreSQL URL. Anything that starts with a URL
//! scheme (`word://`) is a URL and never a folder, so a mistyped URL cannot silently become a
//! local folder tree with a password in its name. Passwords are masked in every display.

use crate::error::InputError;
use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, PartialEq)]
pub enum Location {
    Folder(PathBuf),
    Postgres(PgUrl),
}

/// A PostgreSQL URL; `Display` and `Debug` show it with the password masked.
#[derive(Clone, PartialEq)]
pub struct PgUrl {
    url: String,
    password: Option<String>,
}

impl Location {
    /// Reads a `--store` value, `AEROCAST_STORE` or `[store]` setting (`what` names it in
    /// errors). `postgres://` and `postgresql://` are PostgreSQL; other schemes are refused.
    pub fn parse(what: &str, text: &str) -> Result<Location, InputError> {
        let Some(scheme) = crate::spec::url_scheme(text) else {
            return Ok(Location::Folder(PathBuf::from(text)));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Ok(Location::Postgres(PgUrl::parse(what, text)?)),
            other => Err(InputError::usage(
                what,
                format!(
                    "unknown store URL scheme `{other}://` in {}: give a folder path or a postgres://user:password@host:port/database URL",
                    mask(text)
                ),
            )),
        }
    }

    pub fn folder(path: &Path) -> Location {
        Location::Folder(path.to_path_buf())
    }

    /// Removes the password from any text (an error message from a driver, say).
    pub fn redact(&self, text: &str) -> String {
        match self {
            Location::Postgres(url) => url.redact(text),
            Location::Folder(_) => text.to_string(),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Folder(p) => write!(f, "{}", p.display()),
            Location::Postgres(url) => write!(f, "{url}"),
        }
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

impl PgUrl {
    fn parse(what: &str, text: &str) -> Result<PgUrl, InputError> {
        let config: postgres::Config = text.parse().map_err(|e| {
            // The cause names the option (never its value, which may be a password).
            let cause = std::error::Error::source(&e)
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            let hint = if text.contains("sslmode=") {
                "; sslmode is disable, prefer or require (certificates are not verified)"
            } else {
                ""
            };
            InputError::usage(
                what,
                format!("invalid PostgreSQL URL {}: {e}{cause}{hint}", mask(text)),
            )
        })?;
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .filter(|p| !p.is_empty());
        Ok(PgUrl {
            url: text.to_string(),
            password,
        })
    }

    /// The URL with its password, for the driver only.
    pub fn secret(&self) -> &str {
        &self.url
    }

    /// `host:port/database`, for messages and cache folder names.
    pub fn server(&self) -> String {
        let rest = self.url.split_once("://").map_or("", |(_, r)| r);
        let rest = rest.split('?').next().unwrap_or("");
        rest.rsplit_once('@').map_or(rest, |(_, r)| r).to_string()
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.replace(&self.url, &mask(&self.url));
        if let Some(p) = &self.password {
            out = out.replace(p.as_str(), "***");
        }
        out
    }
}

impl fmt::Display for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", mask(&self.url))
    }
}

/// A URL with the password of its user info (`user:password@`) and any `password=` query
/// parameter replaced by `***`.
pub fn mask(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{user_info}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = tail
        .split('&')
        .map(|part| match part.find("password=") {
            Some(i) if i == 0 || part[..i].ends_with('?') => format!("{}password=***", &part[..i]),
            _ => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{scheme}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_never_folders() {
        let pg = Location::parse("--store", "postgresql://u:s3cret@db.example:5432/runs").unwrap();
        assert!(matches!(pg, Location::Postgres(_)));
        assert_eq!(pg.to_string(), "postgresql://u:***@db.example:5432/runs");
        let e = Location::parse("--store", "mysql://u:s3cret@h/db").unwrap_err();
        assert!(e.message.contains("mysql://"), "{e}");
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(matches!(
            Location::parse("--store", "runs/a:b").unwrap(),
            Location::Folder(_)
        ));
    }

    #[test]
    fn masks_passwords_everywhere() {
        assert_eq!(mask("postgres://a:b@h:1/d"), "postgres://a:***@h:1/d");
        assert_eq!(mask("postgres://a@h/d"), "postgres://a@h/d");
        assert_eq!(
            mask("postgres://h/d?user=a&password=x&sslmode=disable"),
            "postgres://h/d?user=a&password=***&sslmode=disable"
        );
        let Location::Postgres(url) = Location::parse("s", "postgres://a:pw9@h:5/d").unwrap()
        else {
            panic!()
        };
        assert_eq!(url.server(), "h:5/d");
        assert_eq!(url.redact("failed for pw9 at h"), "failed for *** at h");
    }
}

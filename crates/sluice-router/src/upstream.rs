//! A replica's address, parsed once at the edge.

use crate::error::Error;
use axum::http::Uri;
use std::fmt;
use std::str::FromStr;

/// The base URL of one replica: `http://host[:port]`, with no path, query or fragment.
///
/// Only plain http is accepted: replicas sit on a private network or loopback, and TLS ends at
/// the cluster gateway in front of the router (docs/deploy.md). Saying so at start-up beats
/// failing every request later.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Upstream(String);

impl Upstream {
    /// The URL as given, normalised without a trailing slash; also the replica's metric label.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A replica on this machine's loopback interface.
    pub fn from_port(port: u16) -> Self {
        Upstream(format!("http://127.0.0.1:{port}"))
    }

    /// The replica's URL for `path_and_query` (which starts with `/`).
    pub fn join(&self, path_and_query: &str) -> String {
        format!("{}{}", self.0, path_and_query)
    }
}

impl FromStr for Upstream {
    type Err = Error;

    fn from_str(url: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::BadUpstream {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: Uri = url.parse().map_err(|e| bad(&format!("not a URL ({e})")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(bad(
                "https is not supported: reach replicas over plain http and end TLS at the gateway",
            )),
            Some(other) => return Err(bad(&format!("scheme {other:?} is not http"))),
            None => return Err(bad("missing scheme: write it as http://HOST:PORT")),
        }
        let Some(authority) = uri.authority() else {
            return Err(bad("missing host"));
        };
        if authority.host().is_empty() {
            return Err(bad("missing host"));
        }
        let path = uri.path();
        if !(path.is_empty() || path == "/") || uri.query().is_some() {
            return Err(bad(
                "a replica URL has no path or query: write it as http://HOST:PORT",
            ));
        }
        Ok(Upstream(format!("http://{authority}")))
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_http_with_and_without_trailing_slash() {
        let a: Upstream = "http://127.0.0.1:8080/".parse().unwrap();
        let b: Upstream = "http://127.0.0.1:8080".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.join("/generate?x=1"),
            "http://127.0.0.1:8080/generate?x=1"
        );
    }

    #[test]
    fn rejects_what_it_cannot_reach_with_a_reason() {
        for (url, reason) in [
            ("127.0.0.1:8080", "scheme"),
            ("ftp://host:21", "not http"),
            ("https://host", "https is not supported"),
            ("http://host:8080/v1", "no path"),
            ("not a url at all", "not a URL"),
            ("", "not a URL"),
        ] {
            let err = url.parse::<Upstream>().unwrap_err().to_string();
            assert!(err.contains(reason), "{url:?} gave {err:?}");
            assert!(!err.contains('\n'));
        }
    }
}

//! Where requests go: a loopback `http://` base URL, parsed once.
//!
//! Invariant: a [`Target`] always points at a loopback address (127.0.0.0/8 or `::1`;
//! `localhost` is read as 127.0.0.1). Anything else is refused at parse time, before a
//! single connection is opened.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use http::Uri;

/// Why a URL cannot be a target.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Not a URL at all.
    #[error("`{url}` is not a URL: {reason}")]
    Invalid {
        /// The URL as given.
        url: String,
        /// What the parser said.
        reason: String,
    },
    /// Only plain `http://` is supported.
    #[error("`{url}`: only http:// URLs are supported")]
    Scheme {
        /// The URL as given.
        url: String,
    },
    /// The host is not a loopback address.
    #[error("`{url}`: refusing a non-loopback host (the benchmark only talks to 127.0.0.1/::1)")]
    NotLoopback {
        /// The URL as given.
        url: String,
    },
}

/// A benchmark target: a label for the output and a loopback socket address.
#[derive(Debug, Clone)]
pub struct Target {
    /// Name used in the output (`objectstore`, `b`, `nginx`, ...).
    pub label: String,
    /// The socket to connect to.
    pub addr: SocketAddr,
    /// Value of the `host` header.
    pub host: String,
    /// Path prefix of the base URL without a trailing `/` (usually empty).
    pub prefix: String,
}

impl Target {
    /// Parses `http://<loopback host>[:port][/prefix]`.
    ///
    /// ```
    /// use objectstore_bench::target::Target;
    /// let t = Target::parse("ours", "http://127.0.0.1:8888/").unwrap();
    /// assert_eq!(t.addr.port(), 8888);
    /// assert_eq!(t.url("/health"), "/health");
    /// assert!(Target::parse("x", "http://10.0.0.1:80").is_err());
    /// assert!(Target::parse("x", "http://example.com").is_err());
    /// ```
    pub fn parse(label: &str, url: &str) -> Result<Self, TargetError> {
        let invalid = |reason: String| TargetError::Invalid {
            url: url.to_owned(),
            reason,
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(e.to_string()))?;
        if uri.scheme_str() != Some("http") {
            return Err(TargetError::Scheme {
                url: url.to_owned(),
            });
        }
        let host = uri.host().ok_or_else(|| invalid("no host".to_owned()))?;
        let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .parse()
                .map_err(|_| TargetError::NotLoopback {
                    url: url.to_owned(),
                })?
        };
        if !ip.is_loopback() {
            return Err(TargetError::NotLoopback {
                url: url.to_owned(),
            });
        }
        let port = uri.port_u16().unwrap_or(80);
        let host_header = match uri.port_u16() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        Ok(Self {
            label: label.to_owned(),
            addr: SocketAddr::new(ip, port),
            host: host_header,
            prefix: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// The request target (origin form) for `path`, which starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_loopback_forms() {
        for url in [
            "http://127.0.0.1:1",
            "http://127.1.2.3:9/",
            "http://localhost:8080",
            "http://[::1]:8080/prefix/",
        ] {
            let t = Target::parse("t", url).unwrap();
            assert!(t.addr.ip().is_loopback(), "{url}");
        }
        let t = Target::parse("t", "http://[::1]:8080/prefix/").unwrap();
        assert_eq!(t.url("/v1/x"), "/prefix/v1/x");
        assert_eq!(t.host, "[::1]:8080");
    }

    #[test]
    fn refuses_remote_hosts_and_other_schemes() {
        for remote in [
            "http://192.168.1.1:80",
            "http://[2001:db8::1]:80",
            "http://storage.example",
        ] {
            let parsed = Target::parse("t", remote);
            assert!(
                matches!(parsed, Err(TargetError::NotLoopback { .. })),
                "{remote}: {parsed:?}"
            );
        }
        assert!(matches!(
            Target::parse("t", "https://127.0.0.1"),
            Err(TargetError::Scheme { .. })
        ));
        assert!(Target::parse("t", "not a url").is_err());
    }
}

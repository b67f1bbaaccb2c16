//! The router's settings, parsed: what `RouteArgs` (or the replicas supervisor) produce.

use crate::discovery::DnsTarget;
use crate::policy::{PolicyConfig, PolicyKind};
use crate::proxy::ForwardLimits;
use crate::upstream::Upstream;
use sluice_protocol::auth::ApiKey;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct RouterConfig {
    /// Fixed replicas.
    pub upstreams: Vec<Upstream>,
    /// Replicas discovered from DNS, on top of the fixed ones.
    pub upstream_dns: Option<DnsTarget>,
    pub policy: PolicyConfig,
    /// Between health checks, and between DNS lookups.
    pub health_check_interval: Duration,
    pub limits: ForwardLimits,
    /// `--api-key`: what the router's clients must present; it forwards their header as is.
    pub api_key: Option<ApiKey>,
}

impl RouterConfig {
    /// A router over `upstreams` with the default settings of `sluice route`.
    pub fn with_upstreams(upstreams: Vec<Upstream>) -> Self {
        RouterConfig {
            upstreams,
            upstream_dns: None,
            policy: PolicyConfig {
                kind: PolicyKind::LeastOutstanding,
                prefix_chars: 256,
                prefix_balance_threshold: 4,
                seed: None,
            },
            health_check_interval: Duration::from_secs(2),
            limits: ForwardLimits {
                max_retries: 2,
                request_timeout: Duration::from_secs(600),
                payload_limit: 2_000_000,
            },
            api_key: None,
        }
    }
}

/// Parses `500ms`, `2s`, `1m` or a bare number of seconds (`1.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit_secs) = if let Some(n) = text.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = text.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 500ms, 2s, 1m)"))?;
    Duration::try_from_secs_f64(value * unit_secs)
        .map_err(|_| format!("{text:?} is not a duration (e.g. 500ms, 2s, 1m)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["", "fast", "-1s", "1h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}

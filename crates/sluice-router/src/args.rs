//! `sluice route` flags. The CLI flattens [`RouteArgs`] into its subcommand and calls
//! [`crate::run`].

use crate::config::{parse_duration, RouterConfig};
use crate::discovery::DnsTarget;
use crate::error::Error;
use crate::policy::{PolicyConfig, PolicyKind};
use crate::proxy::ForwardLimits;
use crate::upstream::Upstream;
use sluice_protocol::auth::ApiKey;
use std::time::Duration;

#[derive(Clone, Debug, clap::Args)]
pub struct RouteArgs {
    /// A replica's base URL, e.g. http://10.0.0.5:8080 (repeat the flag, or comma-separate in
    /// the environment variable).
    #[arg(long = "upstream", env = "SLUICE_UPSTREAMS", value_delimiter = ',')]
    pub upstreams: Vec<String>,

    /// Discover replicas from DNS: NAME:PORT, re-resolved every health-check interval (e.g. a
    /// Kubernetes headless Service: sluice-replicas.default.svc.cluster.local:8080).
    #[arg(long, env = "SLUICE_UPSTREAM_DNS")]
    pub upstream_dns: Option<String>,

    /// How to pick a replica for each request.
    #[arg(
        long,
        env = "SLUICE_ROUTE_POLICY",
        value_enum,
        default_value = "least-outstanding"
    )]
    pub policy: PolicyKind,

    /// Address to listen on (not $HOSTNAME: shells and Kubernetes pods set that to their name).
    #[arg(long, env = "SLUICE_ROUTE_HOSTNAME", default_value = "0.0.0.0")]
    pub hostname: String,

    /// Port to listen on.
    #[arg(long, env = "SLUICE_ROUTE_PORT", default_value_t = 3000)]
    pub port: u16,

    /// Time between health checks of each replica (500ms, 2s, 1m).
    #[arg(long, env = "SLUICE_HEALTH_CHECK_INTERVAL", default_value = "2s", value_parser = parse_duration)]
    pub health_check_interval: Duration,

    /// Other replicas to try when one fails before its first response byte.
    #[arg(long, env = "SLUICE_MAX_RETRIES", default_value_t = 2)]
    pub max_retries: usize,

    /// How long a replica may take to send its response headers (a non-streaming generation
    /// sends them at the end, so keep this generous).
    #[arg(long, env = "SLUICE_REQUEST_TIMEOUT", default_value = "600s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Largest request body in bytes (the router reads bodies whole to retry them).
    #[arg(long, env = "PAYLOAD_LIMIT", default_value_t = 2_000_000)]
    pub payload_limit: usize,

    /// prefix-aware: how many leading characters of the prompt decide its replica.
    #[arg(long, env = "SLUICE_PREFIX_CHARS", default_value_t = 256)]
    pub prefix_chars: usize,

    /// prefix-aware: in-flight requests a prompt's replica may have above the least loaded
    /// replica before the request goes to the least loaded one instead.
    #[arg(long, env = "SLUICE_PREFIX_BALANCE_THRESHOLD", default_value_t = 4)]
    pub prefix_balance_threshold: usize,

    /// Require `Authorization: Bearer KEY` on every route but /health and /metrics. The
    /// header is forwarded as it came, so replicas started with the same key accept it.
    #[arg(long, env = "API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
}

impl RouteArgs {
    /// The address to bind, `hostname:port`.
    pub fn listen_addr(&self) -> String {
        format!("{}:{}", self.hostname, self.port)
    }

    /// Parses the upstreams; fails with a one-line error when there are none or one is bad.
    pub fn to_config(&self) -> Result<RouterConfig, Error> {
        let upstreams = self
            .upstreams
            .iter()
            .map(|u| u.trim())
            .filter(|u| !u.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<Upstream>, Error>>()?;
        let upstream_dns = self
            .upstream_dns
            .as_deref()
            .map(str::parse::<DnsTarget>)
            .transpose()?;
        if upstreams.is_empty() && upstream_dns.is_none() {
            return Err(Error::NoUpstreams);
        }
        Ok(RouterConfig {
            upstreams,
            upstream_dns,
            policy: PolicyConfig {
                kind: self.policy,
                prefix_chars: self.prefix_chars,
                prefix_balance_threshold: self.prefix_balance_threshold,
                seed: None,
            },
            health_check_interval: self.health_check_interval,
            limits: ForwardLimits {
                max_retries: self.max_retries,
                request_timeout: self.request_timeout,
                payload_limit: self.payload_limit,
            },
            api_key: self.api_key.as_deref().and_then(ApiKey::new),
        })
    }
}

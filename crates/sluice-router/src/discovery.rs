//! DNS discovery: `--upstream-dns NAME:PORT` is resolved periodically and every address it
//! returns becomes a replica `http://ADDR:PORT`. Pointed at a Kubernetes headless Service,
//! NAME resolves to the ready pods' IPs, so replicas come and go with the Deployment's scale.

use crate::error::Error;
use crate::pool::ReplicaPool;
use crate::upstream::Upstream;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsTarget {
    pub name: String,
    pub port: u16,
}

impl FromStr for DnsTarget {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self, Error> {
        let bad = || Error::BadUpstreamDns {
            value: value.to_string(),
        };
        let (name, port) = value.rsplit_once(':').ok_or_else(bad)?;
        let port = port.parse().map_err(|_| bad())?;
        if name.is_empty() || name.contains('/') {
            return Err(bad());
        }
        Ok(DnsTarget {
            name: name.to_string(),
            port,
        })
    }
}

/// The replicas `addrs` stand for, in a stable order.
pub fn upstreams_of(addrs: impl IntoIterator<Item = SocketAddr>) -> Vec<Upstream> {
    let mut ups: Vec<Upstream> = addrs
        .into_iter()
        .filter_map(|addr| format!("http://{addr}").parse().ok())
        .collect();
    ups.sort();
    ups.dedup();
    ups
}

/// Re-resolves `target` every `interval` and sets the pool to `fixed` plus what it found. A
/// failed lookup keeps the previous set: a DNS hiccup must not empty the pool.
pub async fn resolve_forever(
    pool: Arc<ReplicaPool>,
    target: DnsTarget,
    fixed: Vec<Upstream>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let found = match tokio::net::lookup_host((target.name.as_str(), target.port)).await {
            Ok(addrs) => upstreams_of(addrs),
            Err(e) => {
                tracing::warn!(name = %target.name, "DNS lookup failed, keeping replicas: {e}");
                continue;
            }
        };
        let all: Vec<Upstream> = fixed.iter().chain(&found).cloned().collect();
        let changes = pool.set_upstreams(&all);
        for added in &changes.added {
            tracing::info!(replica = %added, "discovered");
        }
        for removed in &changes.removed {
            tracing::info!(replica = %removed, "gone from DNS");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_and_port() {
        let t: DnsTarget = "sluice-replicas.default.svc.cluster.local:8080"
            .parse()
            .unwrap();
        assert_eq!(t.port, 8080);
        assert_eq!(t.name, "sluice-replicas.default.svc.cluster.local");
        for bad in [
            "nameonly",
            ":80",
            "name:http",
            "http://name:80",
            "name:99999",
        ] {
            let e = bad.parse::<DnsTarget>().unwrap_err().to_string();
            assert!(e.contains("NAME:PORT"), "{bad}: {e}");
        }
    }

    #[test]
    fn addresses_become_sorted_unique_upstreams() {
        let addrs: Vec<SocketAddr> = ["10.0.0.2:80", "10.0.0.1:80", "10.0.0.2:80", "[::1]:80"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let ups: Vec<String> = upstreams_of(addrs).iter().map(|u| u.to_string()).collect();
        assert_eq!(
            ups,
            [
                "http://10.0.0.1:80",
                "http://10.0.0.2:80",
                "http://[::1]:80"
            ]
        );
    }

    #[tokio::test]
    async fn resolves_localhost_into_the_pool() {
        let pool = Arc::new(ReplicaPool::new(&[], Arc::default()));
        let target = DnsTarget {
            name: "localhost".into(),
            port: 9,
        };
        let task = tokio::spawn(resolve_forever(
            Arc::clone(&pool),
            target,
            Vec::new(),
            Duration::from_millis(50),
        ));
        let mut found = 0;
        for _ in 0..100 {
            found = pool.snapshot().len();
            if found > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.abort();
        assert!(found > 0, "localhost resolved to nothing");
    }
}

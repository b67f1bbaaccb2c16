//! Periodic health checks: `GET /health` on every replica; 2xx within the timeout is healthy.
//! An unhealthy replica gets no new requests until a check passes again.

use crate::pool::ReplicaPool;
use crate::proxy::HttpClient;
use crate::upstream::Upstream;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

/// Checks every replica now, then every `interval`, until dropped.
pub async fn check_forever(pool: Arc<ReplicaPool>, client: HttpClient, interval: Duration) {
    let timeout = interval.max(Duration::from_secs(1));
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let mut checks = JoinSet::new();
        for replica in pool.snapshot().iter() {
            let (replica, client) = (Arc::clone(replica), client.clone());
            checks.spawn(async move {
                let healthy = probe(&client, replica.upstream(), timeout).await;
                if replica.set_healthy(healthy) {
                    if healthy {
                        tracing::info!(replica = %replica.upstream(), "healthy again");
                    } else {
                        tracing::warn!(replica = %replica.upstream(), "failed its health check");
                    }
                }
            });
        }
        while checks.join_next().await.is_some() {}
    }
}

/// Whether `GET {upstream}/health` answers 2xx within `timeout`.
pub async fn probe(client: &HttpClient, upstream: &Upstream, timeout: Duration) -> bool {
    let Ok(uri) = upstream.join("/health").parse() else {
        return false;
    };
    let request = async {
        let mut request = hyper::Request::new(Full::new(Bytes::new()));
        *request.uri_mut() = uri;
        let response = client.request(request).await.ok()?;
        let ok = response.status().is_success();
        // Drain the body so the pooled connection can be reused.
        response.into_body().collect().await.ok()?;
        Some(ok)
    };
    matches!(tokio::time::timeout(timeout, request).await, Ok(Some(true)))
}

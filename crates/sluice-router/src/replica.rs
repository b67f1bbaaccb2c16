//! One replica as the router sees it: its address, health, and counters; and the lease that
//! counts a request in flight on it until the response body ends.

use crate::metrics::ReplicaStats;
use crate::upstream::Upstream;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug)]
pub struct Replica {
    upstream: Upstream,
    healthy: AtomicBool,
    stats: ReplicaStats,
}

/// What `/info` shows of a replica.
#[derive(Debug, Serialize)]
pub struct ReplicaInfo {
    pub url: String,
    pub healthy: bool,
    pub in_flight: usize,
    pub requests: u64,
    pub errors: u64,
    pub retries: u64,
}

impl Replica {
    /// A new replica starts healthy: the first health check runs at once, and a replica that
    /// refuses connections is marked down by the first request that finds out.
    pub fn new(upstream: Upstream, stats: ReplicaStats) -> Self {
        Replica {
            upstream,
            healthy: AtomicBool::new(true),
            stats,
        }
    }

    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Sets the health; returns whether it changed (callers log transitions, not every probe).
    pub fn set_healthy(&self, healthy: bool) -> bool {
        self.healthy.swap(healthy, Ordering::Relaxed) != healthy
    }

    pub fn in_flight(&self) -> usize {
        usize::try_from(self.stats.in_flight.get()).unwrap_or(0)
    }

    /// Starts a request on this replica; it counts as in flight until the lease drops.
    pub fn lease(self: &Arc<Self>) -> Lease {
        self.stats.requests.inc();
        self.stats.in_flight.inc();
        Lease {
            replica: Arc::clone(self),
            started: Instant::now(),
            answered: false,
        }
    }

    pub fn record_error(&self) {
        self.stats.errors.inc();
    }

    pub fn record_retry(&self) {
        self.stats.retries.inc();
    }

    pub fn info(&self) -> ReplicaInfo {
        ReplicaInfo {
            url: self.upstream.to_string(),
            healthy: self.is_healthy(),
            in_flight: self.in_flight(),
            requests: self.stats.requests.get(),
            errors: self.stats.errors.get(),
            retries: self.stats.retries.get(),
        }
    }
}

/// A request in flight on a replica (RAII: dropping it ends the request). Once the replica
/// answers, the lease moves into the response body, so a stream counts until its last byte.
#[derive(Debug)]
pub struct Lease {
    replica: Arc<Replica>,
    started: Instant,
    answered: bool,
}

impl Lease {
    pub fn replica(&self) -> &Arc<Replica> {
        &self.replica
    }

    /// Marks that the replica sent its response headers; the duration is recorded at drop.
    pub fn answered(mut self) -> Self {
        self.replica
            .stats
            .first_byte_seconds
            .observe(self.started.elapsed().as_secs_f64());
        self.answered = true;
        self
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let stats = &self.replica.stats;
        stats.in_flight.dec();
        if self.answered {
            stats
                .duration_seconds
                .observe(self.started.elapsed().as_secs_f64());
        }
    }
}

//! The set of replicas requests may go to. Readers take a cheap snapshot; discovery swaps in a
//! new set that keeps the state (health, in-flight) of replicas that stay.

use crate::metrics::Metrics;
use crate::replica::Replica;
use crate::upstream::Upstream;
use std::sync::{Arc, PoisonError, RwLock};

pub type Snapshot = Arc<[Arc<Replica>]>;

#[derive(Debug)]
pub struct ReplicaPool {
    replicas: RwLock<Snapshot>,
    metrics: Arc<Metrics>,
}

/// What a call to [`ReplicaPool::set_upstreams`] changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub added: Vec<Upstream>,
    pub removed: Vec<Upstream>,
}

impl ReplicaPool {
    pub fn new(upstreams: &[Upstream], metrics: Arc<Metrics>) -> Self {
        let pool = ReplicaPool {
            replicas: RwLock::new(Arc::from(Vec::new())),
            metrics,
        };
        pool.set_upstreams(upstreams);
        pool
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn snapshot(&self) -> Snapshot {
        Arc::clone(&self.replicas.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the set by `upstreams` (duplicates ignored, order kept). Requests in flight on a
    /// removed replica finish normally: their leases hold the replica.
    pub fn set_upstreams(&self, upstreams: &[Upstream]) -> Changes {
        let mut slot = self
            .replicas
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let mut next: Vec<Arc<Replica>> = Vec::with_capacity(upstreams.len());
        let mut changes = Changes::default();
        for upstream in upstreams {
            if next.iter().any(|r| r.upstream() == upstream) {
                continue;
            }
            match slot.iter().find(|r| r.upstream() == upstream) {
                Some(kept) => next.push(Arc::clone(kept)),
                None => {
                    changes.added.push(upstream.clone());
                    let stats = self.metrics.replica_stats(upstream);
                    next.push(Arc::new(Replica::new(upstream.clone(), stats)));
                }
            }
        }
        changes.removed = slot
            .iter()
            .filter(|r| !next.iter().any(|n| n.upstream() == r.upstream()))
            .map(|r| r.upstream().clone())
            .collect();
        *slot = Arc::from(next);
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ups(urls: &[&str]) -> Vec<Upstream> {
        urls.iter().map(|u| u.parse().unwrap()).collect()
    }

    #[test]
    fn replacing_the_set_keeps_the_state_of_replicas_that_stay() {
        let pool = ReplicaPool::new(&ups(&["http://a:1", "http://b:1"]), Arc::default());
        let b = Arc::clone(&pool.snapshot()[1]);
        b.set_healthy(false);
        let lease = b.lease();
        let changes = pool.set_upstreams(&ups(&["http://b:1", "http://c:1", "http://c:1"]));
        assert_eq!(changes.added, ups(&["http://c:1"]));
        assert_eq!(changes.removed, ups(&["http://a:1"]));
        let now = pool.snapshot();
        assert_eq!(now.len(), 2);
        assert!(Arc::ptr_eq(&now[0], &b));
        assert!(!now[0].is_healthy());
        assert_eq!(now[0].in_flight(), 1);
        drop(lease);
        assert_eq!(now[0].in_flight(), 0);
    }
}

//! Prometheus metrics of the router, per replica. `prometheus-client` is the Prometheus
//! project's own Rust client: typed families, text exposition, no global registry.

use crate::upstream::Upstream;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReplicaLabel {
    replica: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

type HistogramFamily = Family<ReplicaLabel, Histogram, fn() -> Histogram>;

/// 1 ms to ~65 s: a proxied request is anything from a health probe to a long generation.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The handles of one replica's series. Clones share the same series, so the replica reads
/// its own numbers (for `/info` and the policies) from the very counters `/metrics` exports.
#[derive(Clone, Debug)]
pub struct ReplicaStats {
    pub requests: Counter,
    pub in_flight: Gauge,
    pub errors: Counter,
    pub retries: Counter,
    pub first_byte_seconds: Histogram,
    pub duration_seconds: Histogram,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<ReplicaLabel, Counter>,
    in_flight: Family<ReplicaLabel, Gauge>,
    errors: Family<ReplicaLabel, Counter>,
    retries: Family<ReplicaLabel, Counter>,
    first_byte: HistogramFamily,
    duration: HistogramFamily,
    unrouted: Family<ReasonLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Metrics {
            registry: Registry::with_prefix("sluice_router"),
            requests: Family::default(),
            in_flight: Family::default(),
            errors: Family::default(),
            retries: Family::default(),
            first_byte: Family::new_with_constructor(latency_histogram),
            duration: Family::new_with_constructor(latency_histogram),
            unrouted: Family::default(),
        };
        metrics.registered()
    }
}

impl Metrics {
    /// Registers every family (families are handles: the registry and `self` share series).
    fn registered(mut self) -> Self {
        let r = &mut self.registry;
        r.register(
            "requests",
            "Requests sent to each replica (every attempt)",
            self.requests.clone(),
        );
        r.register(
            "in_flight",
            "Requests each replica is answering now",
            self.in_flight.clone(),
        );
        r.register(
            "errors",
            "Failures per replica: refused, reset, 503/429, timed out, or a stream cut short",
            self.errors.clone(),
        );
        r.register(
            "retries",
            "Requests that failed on a replica before their first byte and were sent to another",
            self.retries.clone(),
        );
        r.register(
            "first_byte_seconds",
            "Time from sending a request to a replica to its response headers",
            self.first_byte.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from sending a request to a replica to the end of its response body",
            self.duration.clone(),
        );
        r.register(
            "unrouted",
            "Requests the router answered itself because no replica could take them",
            self.unrouted.clone(),
        );
        self
    }

    pub fn replica_stats(&self, upstream: &Upstream) -> ReplicaStats {
        let label = ReplicaLabel {
            replica: upstream.as_str().to_string(),
        };
        ReplicaStats {
            requests: self.requests.get_or_create(&label).clone(),
            in_flight: self.in_flight.get_or_create(&label).clone(),
            errors: self.errors.get_or_create(&label).clone(),
            retries: self.retries.get_or_create(&label).clone(),
            first_byte_seconds: self.first_byte.get_or_create(&label).clone(),
            duration_seconds: self.duration.get_or_create(&label).clone(),
        }
    }

    /// Counts a request the router answered itself; `reason` is the error_type it got.
    pub fn record_unrouted(&self, reason: &'static str) {
        self.unrouted.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// The Prometheus text exposition of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

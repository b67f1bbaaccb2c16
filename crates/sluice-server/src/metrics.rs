//! Prometheus metrics, all prefixed `sluice_`: requests by route and status, request timings
//! and lengths recorded by each request, and the engine's gauges read at scrape time.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use sluice_core::{EngineStats, ModelInfo, SpeculationStats};
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

/// Speculative decoding's counters, by where the proposals come from.
struct SpeculationMetrics {
    proposed: Family<MethodLabels, Counter>,
    accepted: Family<MethodLabels, Counter>,
    accepted_length: Family<MethodLabels, Histogram, LengthBuckets>,
    /// Checked chains by accepted length already observed into `accepted_length`.
    observed_lengths: Mutex<Vec<u64>>,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub in_flight: Gauge,
    pub aborted: Counter,
    pub request_duration: Histogram,
    pub time_to_first_token: Histogram,
    pub time_per_output_token: Histogram,
    pub input_tokens: Histogram,
    pub output_tokens: Histogram,
    queue_size: Gauge,
    batch_size: Gauge,
    kv_usage: Gauge<f64, AtomicU64>,
    kv_free_blocks: Gauge,
    kv_sequences: Gauge,
    preemptions: Counter,
    prefix_cache_hits: Counter,
    speculation: SpeculationMetrics,
    /// One scrape at a time: `catch_up` reads a counter and then adds to it, so two concurrent
    /// scrapes would both add the same gap.
    scrape: Mutex<()>,
}

impl Metrics {
    /// The metrics of a server for `model`, which `sluice_model_info` describes.
    pub fn new(model: &ModelInfo) -> Self {
        let mut registry = Registry::with_prefix("sluice");
        let seconds = || Histogram::new(exponential_buckets(0.005, 2.0, 16));
        let tokens = || Histogram::new(exponential_buckets(1.0, 2.0, 16));
        let m = Metrics {
            requests: Family::default(),
            in_flight: Gauge::default(),
            aborted: Counter::default(),
            request_duration: seconds(),
            time_to_first_token: seconds(),
            time_per_output_token: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            input_tokens: tokens(),
            output_tokens: tokens(),
            queue_size: Gauge::default(),
            batch_size: Gauge::default(),
            kv_usage: Gauge::default(),
            kv_free_blocks: Gauge::default(),
            kv_sequences: Gauge::default(),
            preemptions: Counter::default(),
            prefix_cache_hits: Counter::default(),
            speculation: SpeculationMetrics::new(model.speculate),
            scrape: Mutex::new(()),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "model",
            "What runs: the model, its weights' type, and the device, compute and cache types",
            Info::new(vec![
                ("model_id", model.model_id.clone()),
                ("architecture", model.architecture.clone()),
                ("weights", model.quantization.clone()),
                ("device", model.device.clone()),
                ("dtype", model.dtype.clone()),
                ("kv_cache_dtype", model.kv_cache_dtype.clone()),
            ]),
        );
        r.register(
            "requests",
            "HTTP requests by route and status",
            m.requests.clone(),
        );
        r.register(
            "requests_in_flight",
            "Generation requests admitted and not finished",
            m.in_flight.clone(),
        );
        r.register(
            "requests_aborted",
            "Generation requests whose client went away before the end",
            m.aborted.clone(),
        );
        r.register(
            "request_duration_seconds",
            "Time from admission to the last token",
            m.request_duration.clone(),
        );
        r.register(
            "time_to_first_token_seconds",
            "Time from admission to the first generated token",
            m.time_to_first_token.clone(),
        );
        r.register(
            "time_per_output_token_seconds",
            "Mean time between generated tokens after the first",
            m.time_per_output_token.clone(),
        );
        r.register(
            "request_input_tokens",
            "Prompt length in tokens",
            m.input_tokens.clone(),
        );
        r.register(
            "request_output_tokens",
            "Generated tokens per request",
            m.output_tokens.clone(),
        );
        r.register(
            "queue_size",
            "Requests waiting for the engine to admit them",
            m.queue_size.clone(),
        );
        r.register(
            "batch_size",
            "Sequences in the running batch",
            m.batch_size.clone(),
        );
        r.register(
            "kv_cache_usage_ratio",
            "Fraction of KV-cache blocks in use",
            m.kv_usage.clone(),
        );
        r.register(
            "kv_cache_free_blocks",
            "KV-cache blocks free",
            m.kv_free_blocks.clone(),
        );
        r.register(
            "kv_cache_sequences",
            "Sequences holding KV-cache blocks",
            m.kv_sequences.clone(),
        );
        r.register(
            "preemptions",
            "Sequences preempted to free KV-cache blocks",
            m.preemptions.clone(),
        );
        r.register(
            "prefix_cache_hit_blocks",
            "KV-cache blocks reused from the prefix cache",
            m.prefix_cache_hits.clone(),
        );
        m.speculation.register(r);
        Metrics { registry, ..m }
    }

    /// The Prometheus text exposition, with the engine's gauges as of `stats`.
    pub fn render(&self, stats: &EngineStats) -> String {
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        self.queue_size.set(stats.waiting as i64);
        self.batch_size.set(stats.running as i64);
        self.kv_usage.set(stats.kv_usage());
        self.kv_free_blocks.set(stats.kv_blocks_free as i64);
        self.kv_sequences.set(stats.kv_sequences as i64);
        catch_up(&self.preemptions, stats.preemptions);
        catch_up(&self.prefix_cache_hits, stats.prefix_cache_hit_blocks);
        if let Some(speculation) = &stats.speculation {
            self.speculation.catch_up(speculation);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// One histogram bucket per accepted length, so the histogram counts each length exactly.
#[derive(Clone, Debug)]
struct LengthBuckets(Vec<f64>);

impl MetricConstructor<Histogram> for LengthBuckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

impl SpeculationMetrics {
    /// Counters for proposal chains of up to `max_tokens` tokens.
    fn new(max_tokens: usize) -> Self {
        let bounds: Vec<f64> = (0..=max_tokens).map(|n| n as f64).collect();
        SpeculationMetrics {
            proposed: Family::default(),
            accepted: Family::default(),
            accepted_length: Family::new_with_constructor(LengthBuckets(bounds)),
            observed_lengths: Mutex::new(Vec::new()),
        }
    }

    fn register(&self, r: &mut Registry) {
        r.register(
            "speculative_proposed_tokens",
            "Tokens proposed by speculative decoding and checked by the model",
            self.proposed.clone(),
        );
        r.register(
            "speculative_accepted_tokens",
            "Proposed tokens the model accepted",
            self.accepted.clone(),
        );
        r.register(
            "speculative_accepted_length",
            "Tokens accepted of each checked chain of proposals",
            self.accepted_length.clone(),
        );
    }

    /// Moves the counters up to the engine's totals.
    fn catch_up(&self, stats: &SpeculationStats) {
        let labels = MethodLabels {
            method: stats.method.clone(),
        };
        catch_up(&self.proposed.get_or_create(&labels), stats.proposed_tokens);
        catch_up(&self.accepted.get_or_create(&labels), stats.accepted_tokens);
        let histogram = self.accepted_length.get_or_create(&labels);
        let mut observed = self
            .observed_lengths
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        observed.resize(stats.accepted_lengths.len(), 0);
        for (length, (&total, seen)) in stats
            .accepted_lengths
            .iter()
            .zip(observed.iter_mut())
            .enumerate()
        {
            for _ in *seen..total {
                histogram.observe(length as f64);
            }
            *seen = total;
        }
    }
}

/// Moves a counter up to the engine's running total.
fn catch_up(counter: &Counter, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_scrapes_report_the_engine_totals_once() {
        let model = ModelInfo {
            model_id: "m".into(),
            architecture: "llama".into(),
            quantization: "q4_1".into(),
            device: "cpu".into(),
            dtype: "f32".into(),
            kv_cache_dtype: "f16".into(),
            context_length: 8,
            kv_capacity_tokens: 8,
            sampling_defaults: Default::default(),
            speculate: 2,
            speculation_method: Some("ngram".into()),
        };
        let metrics = Metrics::new(&model);
        let stats = EngineStats {
            preemptions: 1000,
            prefix_cache_hit_blocks: 7,
            speculation: Some(SpeculationStats {
                method: "ngram".into(),
                proposed_tokens: 10,
                accepted_tokens: 8,
                // One chain with none accepted, two with one, three with two.
                accepted_lengths: vec![1, 2, 3],
            }),
            ..EngineStats::default()
        };
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| metrics.render(&stats));
            }
        });
        let text = metrics.render(&stats);
        assert!(text.contains("sluice_preemptions_total 1000\n"), "{text}");
        assert!(
            text.contains("sluice_prefix_cache_hit_blocks_total 7\n"),
            "{text}"
        );
        assert!(
            text.contains(r#"sluice_model_info{model_id="m",architecture="llama",weights="q4_1",device="cpu",dtype="f32",kv_cache_dtype="f16"} 1"#),
            "{text}"
        );
        for line in [
            r#"sluice_speculative_proposed_tokens_total{method="ngram"} 10"#,
            r#"sluice_speculative_accepted_tokens_total{method="ngram"} 8"#,
            r#"sluice_speculative_accepted_length_count{method="ngram"} 6"#,
            r#"sluice_speculative_accepted_length_bucket{le="0.0",method="ngram"} 1"#,
            r#"sluice_speculative_accepted_length_bucket{le="1.0",method="ngram"} 3"#,
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
    }
}

//! Per-level metrics from request records: throughput, latency distributions, goodput, errors.

use crate::record::{RequestRecord, TokenSource};
use crate::stats::Distribution;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Service-level objectives for goodput, in milliseconds (`--slo-ttft`, `--slo-tpot`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    pub ttft_ms: Option<f64>,
    pub tpot_ms: Option<f64>,
}

impl Slo {
    pub fn is_set(&self) -> bool {
        self.ttft_ms.is_some() || self.tpot_ms.is_some()
    }

    /// A successful request meets the SLO when each set bound holds. A TTFT bound needs a TTFT,
    /// so non-streamed requests never meet it; a request of one token has no TPOT and meets
    /// that bound.
    pub fn met_by(&self, r: &RequestRecord) -> bool {
        let ttft_ok = self
            .ttft_ms
            .is_none_or(|max| r.ttft_s.is_some_and(|t| t * 1e3 <= max));
        let tpot_ok = self
            .tpot_ms
            .is_none_or(|max| r.tpot_s().is_none_or(|t| t * 1e3 <= max));
        r.ok() && ttft_ok && tpot_ok
    }
}

/// Everything a report shows about one level. Latencies are in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LevelSummary {
    pub requests: usize,
    pub completed: usize,
    pub failed: usize,
    /// Time to finish the set: first send to last completion, seconds.
    pub duration_s: f64,
    /// Completed requests per second.
    pub request_throughput: f64,
    /// Output tokens of completed requests per second.
    pub output_throughput: f64,
    /// Prompt plus output tokens of completed requests per second.
    pub total_token_throughput: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub ttft_ms: Option<Distribution>,
    pub tpot_ms: Option<Distribution>,
    pub itl_ms: Option<Distribution>,
    pub e2e_ms: Option<Distribution>,
    /// Completed requests meeting the SLO per second; `None` without an SLO.
    pub goodput: Option<f64>,
    /// Failures by `ErrorKind::key`.
    pub errors: BTreeMap<String, u64>,
    /// The first message seen for each error kind.
    pub error_examples: BTreeMap<String, String>,
    /// How many completed requests had their output / prompt tokens counted each way.
    pub output_token_sources: BTreeMap<TokenSource, u64>,
    pub input_token_sources: BTreeMap<TokenSource, u64>,
    /// Requests sent a second time after a stale keep-alive connection (see `Client::send`).
    #[serde(default)]
    pub retried: usize,
}

impl LevelSummary {
    pub fn of(records: &[RequestRecord], duration_s: f64, slo: &Slo) -> Self {
        let ok: Vec<&RequestRecord> = records.iter().filter(|r| r.ok()).collect();
        let per_s = |x: f64| {
            if duration_s > 0.0 {
                x / duration_s
            } else {
                0.0
            }
        };
        let input_tokens: u64 = ok.iter().map(|r| r.input_tokens).sum();
        let output_tokens: u64 = ok.iter().map(|r| r.output_tokens).sum();
        let ms = |f: &dyn Fn(&RequestRecord) -> Option<f64>| {
            let v: Vec<f64> = ok.iter().filter_map(|r| f(r)).map(|s| s * 1e3).collect();
            Distribution::of(&v)
        };
        let itl: Vec<f64> = ok
            .iter()
            .flat_map(|r| r.itl_s.iter().map(|s| s * 1e3))
            .collect();
        let mut errors = BTreeMap::new();
        let mut error_examples = BTreeMap::new();
        for r in records {
            if let Some(kind) = &r.error {
                *errors.entry(kind.clone()).or_insert(0) += 1;
                error_examples
                    .entry(kind.clone())
                    .or_insert_with(|| r.error_message.clone().unwrap_or_default());
            }
        }
        let count_by = |f: &dyn Fn(&RequestRecord) -> TokenSource| {
            let mut m = BTreeMap::new();
            for r in &ok {
                *m.entry(f(r)).or_insert(0) += 1;
            }
            m
        };
        Self {
            requests: records.len(),
            completed: ok.len(),
            failed: records.len() - ok.len(),
            duration_s,
            request_throughput: per_s(ok.len() as f64),
            output_throughput: per_s(output_tokens as f64),
            total_token_throughput: per_s((input_tokens + output_tokens) as f64),
            input_tokens,
            output_tokens,
            ttft_ms: ms(&|r| r.ttft_s),
            tpot_ms: ms(&|r| r.tpot_s()),
            itl_ms: Distribution::of(&itl),
            e2e_ms: ms(&|r| Some(r.e2e_s)),
            goodput: slo
                .is_set()
                .then(|| per_s(ok.iter().filter(|r| slo.met_by(r)).count() as f64)),
            errors,
            error_examples,
            output_token_sources: count_by(&|r| r.output_token_source),
            input_token_sources: count_by(&|r| r.input_token_source),
            retried: records.iter().filter(|r| r.retries > 0).count(),
        }
    }
}

/// `server`, or `server+estimate` when requests were counted in different ways.
pub fn sources_label(sources: &BTreeMap<TokenSource, u64>) -> String {
    if sources.is_empty() {
        return "-".into();
    }
    sources
        .keys()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join("+")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ttft: Option<f64>, e2e: f64, out: u64, error: Option<&str>) -> RequestRecord {
        RequestRecord {
            prompt_index: 0,
            start_s: 0.0,
            e2e_s: e2e,
            ttft_s: ttft,
            output_tokens: out,
            output_token_source: TokenSource::Server,
            input_tokens: 10,
            input_token_source: TokenSource::Estimate,
            error: error.map(str::to_string),
            error_message: error.map(|e| format!("{e} happened")),
            itl_s: vec![0.01; out.saturating_sub(1) as usize],
            retries: 0,
        }
    }

    #[test]
    fn throughput_and_latency_from_fixed_records() {
        let records = vec![
            rec(Some(0.1), 1.1, 11, None), // tpot 0.1
            rec(Some(0.3), 2.3, 21, None), // tpot 0.1
            rec(None, 0.5, 0, Some("http_500")),
        ];
        let s = LevelSummary::of(&records, 2.0, &Slo::default());
        assert_eq!((s.requests, s.completed, s.failed), (3, 2, 1));
        assert_eq!(s.request_throughput, 1.0);
        assert_eq!(s.output_throughput, 16.0);
        assert_eq!(s.total_token_throughput, 26.0);
        let ttft = s.ttft_ms.unwrap();
        assert!((ttft.mean - 200.0).abs() < 1e-9);
        assert!((s.tpot_ms.unwrap().p50 - 100.0).abs() < 1e-9);
        assert_eq!(s.itl_ms.unwrap().count, 30);
        assert_eq!(s.errors["http_500"], 1);
        assert_eq!(s.error_examples["http_500"], "http_500 happened");
        assert_eq!(s.goodput, None);
        assert_eq!(sources_label(&s.input_token_sources), "estimate");
    }

    #[test]
    fn goodput_counts_requests_within_both_slos() {
        let records = vec![
            rec(Some(0.1), 1.1, 11, None), // ttft 100 ms, tpot 100 ms
            rec(Some(0.5), 1.5, 11, None), // ttft 500 ms
            rec(Some(0.1), 3.1, 11, None), // tpot 300 ms
            rec(Some(0.1), 0.1, 1, None),  // one token: no tpot
            rec(None, 1.0, 10, None),      // not streamed: no ttft
            rec(Some(0.1), 0.2, 0, Some("timeout")),
        ];
        let slo = Slo {
            ttft_ms: Some(200.0),
            tpot_ms: Some(150.0),
        };
        let s = LevelSummary::of(&records, 2.0, &slo);
        assert_eq!(s.goodput, Some(1.0)); // requests 1 and 4, over 2 s
        let only_tpot = Slo {
            ttft_ms: None,
            tpot_ms: Some(150.0),
        };
        // 1, 2, 4 and 5 (no TTFT means no TPOT, which meets the bound).
        assert_eq!(
            LevelSummary::of(&records, 1.0, &only_tpot).goodput,
            Some(4.0)
        );
    }
}

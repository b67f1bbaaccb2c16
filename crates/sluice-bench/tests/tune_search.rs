//! `sluice tune`'s search over a stub whose speed and latency are a known function of its
//! settings: it finds the planted best setting and concurrency within its budget (counted in
//! simulated seconds), records and skips a candidate that cannot start, never runs the full
//! grid, and an interrupted search still writes its report.

use sluice_bench::tune::{
    search_until, write_report, Candidate, Evaluation, Evaluator, Measured, Search, SearchConfig,
    Space,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::Notify;

/// The stub server: capacity grows with the planted settings, saturates at 8 clients, and
/// past 8 clients its TTFT p99 breaks a 1 s SLO. Costs are simulated seconds.
struct Stub {
    runs: usize,
    /// Signalled after this many runs (the test's Ctrl-C).
    interrupt_after: Option<(usize, Arc<Notify>)>,
}

fn capacity(c: &Candidate) -> f64 {
    let is = |name: &str, value: &str| c.get(name).is_some_and(|v| v == value);
    10.0 + 5.0 * f64::from(u8::from(is("max-batch-prefill-tokens", "512")))
        + 3.0 * f64::from(u8::from(is("speculate", "2")))
        + 2.0 * f64::from(u8::from(is("replicas", "2")))
        + 1.0 * f64::from(u8::from(is("kv-cache-dtype", "f16")))
}

impl Evaluator for Stub {
    async fn evaluate(&mut self, c: &Candidate, concurrency: u32, requests: usize) -> Evaluation {
        self.runs += 1;
        if let Some((after, notify)) = &self.interrupt_after {
            if self.runs > *after {
                notify.notify_one();
                std::future::pending::<()>().await;
            }
        }
        if c.get("quantize").is_some_and(|q| q == "broken") {
            return Evaluation {
                outcome: Err("the server did not start: unknown quantization \"broken\"".into()),
                cost_s: 1.0,
            };
        }
        let req_s = capacity(c) * f64::from(concurrency.min(8)) / 8.0;
        let ttft_p99 = 500.0 * f64::from(concurrency.max(8)) / 8.0;
        let meets = ttft_p99 <= 1000.0;
        let duration_s = requests as f64 / req_s;
        Evaluation {
            outcome: Ok(Measured {
                requests,
                completed: requests,
                duration_s,
                output_tok_s: req_s * 50.0,
                goodput: if meets { req_s } else { req_s / 4.0 },
                ttft_p50_ms: Some(ttft_p99 / 2.0),
                ttft_p99_ms: Some(ttft_p99),
                tpot_p50_ms: Some(20.0),
                tpot_p99_ms: Some(30.0),
                peak_rss_mib: Some(300.0),
                errors: 0,
            }),
            cost_s: 1.0 + duration_s,
        }
    }
}

fn space() -> Space {
    let mut settings = Space::default_for(2).settings;
    settings.insert("quantize".into(), vec!["q8_0".into(), "broken".into()]);
    Space {
        settings,
        engines: Vec::new(),
    }
}

fn config(budget_s: f64) -> SearchConfig {
    SearchConfig {
        levels: vec![1, 8, 32],
        num_prompts: 32,
        budget_s,
        ttft_p99_ms: Some(1000.0),
        tpot_p99_ms: Some(100.0),
    }
}

fn planted() -> Candidate {
    BTreeMap::from(
        [
            ("kv-cache-dtype", "f16"),
            ("max-batch-prefill-tokens", "512"),
            ("max-running-requests", "32"),
            ("quantize", "q8_0"),
            ("replicas", "2"),
            ("speculate", "2"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

async fn search(budget_s: f64, stub: &mut Stub) -> (Search, bool, Option<Arc<Notify>>) {
    let mut search = Search {
        candidates: space().candidates(),
        ..Search::default()
    };
    let notify = stub.interrupt_after.as_ref().map(|(_, n)| n.clone());
    let interrupt = {
        let notify = notify.clone();
        async move {
            match notify {
                Some(n) => n.notified().await,
                None => std::future::pending().await,
            }
        }
    };
    let interrupted = search_until(&config(budget_s), stub, &mut search, interrupt).await;
    (search, interrupted, notify)
}

#[tokio::test]
async fn finds_the_planted_setting_and_concurrency_within_the_budget() {
    let budget_s = 400.0;
    let mut stub = Stub {
        runs: 0,
        interrupt_after: None,
    };
    let (search, interrupted, _) = search(budget_s, &mut stub).await;
    assert!(!interrupted);
    let cfg = config(budget_s);
    let out = std::env::temp_dir().join(format!("sluice-tune-planted-{}", std::process::id()));
    write_report(&out, &cfg, &search, |_| "sluice serve".into()).unwrap();
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for plot in [
        "goodput_vs_concurrency.svg",
        "goodput_vs_max-batch-prefill-tokens.svg",
    ] {
        assert!(report.contains(&format!("(plots/{plot})")), "{report}");
        assert!(out.join("plots").join(plot).is_file(), "{plot}");
    }
    let (best, trial) = search.recommendation(&cfg).expect("a recommendation");
    // max-running-requests does not matter to the stub: either value may win the tie.
    let mut found = search.candidates[best].clone();
    found.insert("max-running-requests".into(), "32".into());
    assert_eq!(found, planted(), "{search:#?}");
    assert_eq!(search.trials[trial].concurrency, 8);
    assert!(
        search.spent_s <= budget_s,
        "spent {} of {budget_s}",
        search.spent_s
    );
    let grid = search.candidates.len() * cfg.levels.len();
    assert!(
        search.trials.len() < grid / 2,
        "{} runs for a grid of {grid}",
        search.trials.len()
    );
    assert!(search.noise.is_some(), "the best run is repeated");
    // The candidates that cannot start are recorded with the reason and go no further.
    let broken: Vec<_> = search
        .trials
        .iter()
        .filter(|t| search.candidates[t.candidate]["quantize"] == "broken")
        .collect();
    assert_eq!(broken.len(), search.candidates.len() / 2);
    assert!(broken
        .iter()
        .all(|t| t.error.as_deref().unwrap().contains("did not start")));
    assert!(search
        .ranking(&cfg)
        .iter()
        .all(|&(c, _)| search.candidates[c]["quantize"] != "broken"));
}

#[tokio::test]
async fn a_small_budget_stops_the_search_and_reports_what_it_measured() {
    let mut stub = Stub {
        runs: 0,
        interrupt_after: None,
    };
    let (search, _, _) = search(30.0, &mut stub).await;
    assert_eq!(search.stopped.as_deref(), Some("budget"));
    assert!(search.spent_s <= 30.0, "{}", search.spent_s);
    assert!(!search.trials.is_empty());
}

#[tokio::test]
async fn an_interrupted_search_writes_a_partial_report() {
    let notify = Arc::new(Notify::new());
    let mut stub = Stub {
        runs: 0,
        interrupt_after: Some((5, notify)),
    };
    let (search, interrupted, _) = search(400.0, &mut stub).await;
    assert!(interrupted);
    assert_eq!(search.trials.len(), 5);
    let out = std::env::temp_dir().join(format!("sluice-tune-partial-{}", std::process::id()));
    write_report(&out, &config(400.0), &search, |_| "sluice serve".into()).unwrap();
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("stopped early: interrupted"), "{report}");
    let every_run = report.split("## Every run").nth(1).unwrap();
    assert_eq!(every_run.matches("| screen 0 |").count(), 5, "{report}");
    assert!(
        report.contains("not run: the search stopped (interrupted)"),
        "{report}"
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["search"]["trials"].as_array().unwrap().len(), 5);
}

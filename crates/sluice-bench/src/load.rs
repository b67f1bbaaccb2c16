//! Drives one level: closed loop (N clients, each sending its next request as soon as the
//! previous one ends, until the set is done) or open loop (Poisson arrivals at a rate).

use crate::arrivals::poisson_arrivals;
use crate::client::{Client, PreparedRequest};
use crate::progress::Progress;
use crate::record::RequestRecord;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// How the load of one level is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Load {
    /// This many requests in flight until the whole set is done.
    Concurrency(u32),
    /// Requests sent at Poisson arrival times with this mean rate (per second), whatever the
    /// number in flight.
    RequestRate(f64),
}

impl Load {
    /// The x coordinate of plots.
    pub fn value(self) -> f64 {
        match self {
            Load::Concurrency(n) => f64::from(n),
            Load::RequestRate(r) => r,
        }
    }

    /// The name of the load's kind in CSV and JSON: `concurrency` or `request_rate`.
    pub fn kind(self) -> &'static str {
        match self {
            Load::Concurrency(_) => "concurrency",
            Load::RequestRate(_) => "request_rate",
        }
    }

    pub fn axis_name(self) -> &'static str {
        match self {
            Load::Concurrency(_) => "concurrency (requests in flight)",
            Load::RequestRate(_) => "request rate (req/s, Poisson)",
        }
    }
}

impl fmt::Display for Load {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Load::Concurrency(n) => write!(f, "c={n}"),
            Load::RequestRate(r) => write!(f, "rate={r}/s"),
        }
    }
}

/// Sends every request of `reqs` under `load`; returns the records (in completion order) and the
/// time from the first send to the last completion.
pub async fn run_level(
    client: &Client,
    reqs: &Arc<Vec<PreparedRequest>>,
    load: Load,
    seed: u64,
    progress: &Arc<Progress>,
) -> (Vec<RequestRecord>, Duration) {
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    match load {
        Load::Concurrency(clients) => {
            let next = Arc::new(AtomicUsize::new(0));
            for _ in 0..(clients as usize).min(reqs.len()).max(1) {
                let (client, reqs, next, progress) =
                    (client.clone(), reqs.clone(), next.clone(), progress.clone());
                tasks.spawn(async move {
                    let mut out = Vec::new();
                    while let Some(req) = reqs.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let r = client.send(req, start).await;
                        progress.record(&r);
                        out.push(r);
                    }
                    out
                });
            }
        }
        Load::RequestRate(rate) => {
            for (i, at) in poisson_arrivals(reqs.len(), rate, seed)
                .into_iter()
                .enumerate()
            {
                tokio::time::sleep_until((start + Duration::from_secs_f64(at)).into()).await;
                let (client, reqs, progress) = (client.clone(), reqs.clone(), progress.clone());
                tasks.spawn(async move {
                    let r = client.send(&reqs[i], start).await;
                    progress.record(&r);
                    vec![r]
                });
            }
        }
    }
    let mut records = Vec::with_capacity(reqs.len());
    while let Some(done) = tasks.join_next().await {
        // A request task only panics on a bug in this crate; surface it rather than hide it.
        records.extend(done.expect("request task panicked"));
    }
    let elapsed = start.elapsed();
    progress.finish();
    (records, elapsed)
}

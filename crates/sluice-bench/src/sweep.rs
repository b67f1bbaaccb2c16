//! One server, one sweep: check the server, prepare the requests, warm up, run every level.

use crate::api::{ApiKind, RequestSpec};
use crate::client::{Client, PreparedRequest};
use crate::dataset;
use crate::load::{run_level, Load};
use crate::monitor::{own_cpu_seconds, Monitor, Watched};
use crate::progress::Progress;
use crate::prompt_tokens;
use crate::record::TokenSource;
use crate::results::{LevelResult, RunResult};
use crate::summary::LevelSummary;
use anyhow::{bail, Result};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// Where the server is and how to watch it.
pub struct Target {
    pub url: String,
    pub api: ApiKind,
    /// The server's processes, for CPU and memory sampling.
    pub watched: Option<Watched>,
    pub quiet: bool,
}

/// Runs `run.bench` against `target`, appending each finished level to `run.levels`, so that a
/// caller that stops this future early (Ctrl-C) still has every completed level.
pub async fn run_sweep(target: &Target, run: &mut RunResult) -> Result<()> {
    let s = run.bench.clone();
    s.validate(target.api)?;
    let prompts = dataset::load(&s.dataset, s.num_prompts, &s.random_lengths())?;
    run.server_info = probe(&target.url, target.api).await?;
    let model = s
        .model
        .clone()
        .or_else(|| first_model(run.server_info.as_ref()));
    let texts: Vec<&str> = prompts.iter().map(|p| p.text.as_str()).collect();
    let counted = prompt_tokens::count(&target.url, target.api, &texts).await;
    let client = Client::new(&target.url, target.api, s.streaming(), s.timeout());
    let extra = s.extra_body()?;
    let reqs: Vec<PreparedRequest> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let spec = RequestSpec {
                prompt: &p.text,
                max_new_tokens: p.max_new_tokens.unwrap_or(s.max_new_tokens),
                stream: s.streaming(),
                ignore_eos: s.ignore_eos,
                model: model.as_deref(),
                extra: extra.as_ref(),
            };
            let input_tokens = match &counted {
                Some(counts) => (counts[i], TokenSource::ServerTokenizer),
                None => (p.est_input_tokens, TokenSource::Estimate),
            };
            client.prepare(i, &spec, input_tokens)
        })
        .collect();
    let label = run.label();
    if s.warmup > 0 {
        let warm: Arc<Vec<_>> = Arc::new(reqs.iter().cycle().take(s.warmup).cloned().collect());
        let progress = Arc::new(Progress::new(
            target.quiet,
            format!("{label} warmup"),
            warm.len(),
        ));
        let load = Load::Concurrency(s.warmup.min(8) as u32);
        let (records, _) = run_level(&client, &warm, load, s.seed, &progress).await;
        if let Some(failed) = records.iter().find(|r| !r.ok()) {
            if records.iter().all(|r| !r.ok()) {
                bail!(
                    "every warmup request failed: {}: {}",
                    failed.error.as_deref().unwrap_or("?"),
                    failed.error_message.as_deref().unwrap_or("")
                );
            }
        }
    }
    let reqs = Arc::new(reqs);
    for load in s.loads() {
        let progress = Arc::new(Progress::new(
            target.quiet,
            format!("{label} {load}"),
            reqs.len(),
        ));
        let monitor = Monitor::start(target.watched);
        let cpu_before = own_cpu_seconds();
        let (requests, elapsed) = run_level(&client, &reqs, load, s.seed, &progress).await;
        let client_cpu_s = own_cpu_seconds() - cpu_before;
        let server_usage = monitor.stop();
        let summary = LevelSummary::of(&requests, elapsed.as_secs_f64(), &s.slo());
        log_level(&label, load, &summary);
        let all_failed = summary.completed == 0;
        let first_error = summary
            .error_examples
            .iter()
            .next()
            .map(|(k, m)| format!("{k}: {m}"));
        run.levels.push(LevelResult {
            load,
            summary,
            client_cpu_s,
            server_usage,
            requests,
        });
        if all_failed {
            bail!(
                "every request at {load} failed ({}); stopping the sweep",
                first_error.unwrap_or_default()
            );
        }
    }
    Ok(())
}

/// Fetches the server's self-description. An unreachable server is an error; a server without
/// the route (llama-server has no `/info`) is not.
async fn probe(url: &str, api: ApiKind) -> Result<Option<Value>> {
    let info_url = format!("{}{}", url.trim_end_matches('/'), api.info_path());
    let resp = reqwest::Client::new()
        .get(&info_url)
        .timeout(Duration::from_secs(30))
        .send()
        .await;
    match resp {
        Ok(r) if r.status().is_success() => Ok(r
            .bytes()
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())),
        Ok(_) => Ok(None),
        Err(e) if e.is_connect() || e.is_timeout() => {
            bail!("cannot connect to {url}: is the server running? ({e})")
        }
        Err(e) => bail!("cannot reach {info_url}: {e}"),
    }
}

/// The first model id of an OpenAI `/v1/models` answer.
fn first_model(info: Option<&Value>) -> Option<String> {
    info?
        .get("data")?
        .get(0)?
        .get("id")?
        .as_str()
        .map(str::to_string)
}

fn log_level(label: &str, load: Load, s: &LevelSummary) {
    let ttft = s.ttft_ms.map_or("-".into(), |d| format!("{:.0} ms", d.p50));
    tracing::info!(
        "{label} {load}: {}/{} ok in {:.1} s, {:.2} req/s, {:.1} output tok/s, TTFT p50 {ttft}",
        s.completed,
        s.requests,
        s.duration_s,
        s.request_throughput,
        s.output_throughput
    );
}

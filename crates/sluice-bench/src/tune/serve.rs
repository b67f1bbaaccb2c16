//! The real evaluator: each candidate is a `sluice serve` process on a free loopback port,
//! driven by the bench's own sweep at one concurrency level per run. A candidate's server
//! stays up across its consecutive runs and is stopped before the next candidate starts.

use super::search::{Evaluation, Evaluator, Measured};
use super::space::{flags, Candidate};
use crate::api::ApiKind;
use crate::experiment::ServerProcess;
use crate::monitor::Watched;
use crate::results::RunResult;
use crate::settings::SweepSettings;
use crate::sweep::{run_sweep, Target};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct ServeEvaluator {
    /// The `sluice` binary.
    pub program: PathBuf,
    /// Flags every server gets (`--model-id` and what the user passed on).
    pub base_args: Vec<String>,
    /// The sweep settings of every run; concurrency and request count are the run's.
    pub bench: SweepSettings,
    /// Where each server's log goes.
    pub logs: PathBuf,
    pub startup_timeout: Duration,
    running: Option<(Candidate, ServerProcess, String)>,
    launches: usize,
}

impl ServeEvaluator {
    pub fn new(
        program: PathBuf,
        base_args: Vec<String>,
        bench: SweepSettings,
        logs: PathBuf,
    ) -> Self {
        ServeEvaluator {
            program,
            base_args,
            bench,
            logs,
            startup_timeout: Duration::from_secs(600),
            running: None,
            launches: 0,
        }
    }

    /// The serve command line of `candidate`, as a user would type it after `sluice`.
    pub fn serve_args(&self, candidate: &Candidate) -> Vec<String> {
        let mut args = vec!["serve".to_string()];
        args.extend(self.base_args.iter().cloned());
        args.extend(flags(candidate));
        args
    }

    /// The server for `candidate`, started (and the previous one stopped) when needed;
    /// returns its URL and whether it was just started.
    async fn server_for(&mut self, candidate: &Candidate) -> Result<(String, bool)> {
        if let Some((running, _, url)) = &self.running {
            if running == candidate {
                return Ok((url.clone(), false));
            }
        }
        if let Some((_, mut old, _)) = self.running.take() {
            old.stop();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut args = self.serve_args(candidate);
        args.extend(["--hostname", "127.0.0.1", "--port"].map(String::from));
        args.push(port.to_string());
        let command = std::iter::once(self.program.display().to_string())
            .chain(args)
            .map(|a| shell_quote(&a))
            .collect::<Vec<_>>()
            .join(" ");
        self.launches += 1;
        let log = self.logs.join(format!("candidate-{}.log", self.launches));
        let mut server = ServerProcess::spawn(
            "sluice serve",
            &command,
            &BTreeMap::new(),
            &log,
            Duration::from_secs(10),
        )?;
        let url = format!("http://127.0.0.1:{port}");
        server
            .wait_healthy(&format!("{url}/health"), self.startup_timeout)
            .await
            .with_context(|| format!("the server did not start (log: {})", log.display()))?;
        self.running = Some((candidate.clone(), server, url.clone()));
        Ok((url, true))
    }

    async fn measure(
        &mut self,
        candidate: &Candidate,
        concurrency: u32,
        requests: usize,
    ) -> Result<Measured> {
        let (url, fresh) = self.server_for(candidate).await?;
        let pgid = self.running.as_ref().map(|(_, s, _)| s.pgid());
        let bench = SweepSettings {
            num_prompts: requests,
            concurrency: vec![concurrency],
            request_rate: Vec::new(),
            // A fresh server's first request pays for warming up; later runs reuse it warm.
            warmup: usize::from(fresh),
            ..self.bench.clone()
        };
        let mut run = RunResult::new("sluice".into(), &url, ApiKind::Tgi, bench);
        let target = Target {
            url,
            api: ApiKind::Tgi,
            watched: pgid.map(Watched::Group),
            quiet: true,
        };
        run_sweep(&target, &mut run).await?;
        let level = run.levels.last().context("the sweep measured no level")?;
        let s = &level.summary;
        Ok(Measured {
            requests: s.requests,
            completed: s.completed,
            duration_s: s.duration_s,
            output_tok_s: s.output_throughput,
            goodput: s.goodput.unwrap_or(s.request_throughput),
            ttft_p50_ms: s.ttft_ms.as_ref().map(|d| d.p50),
            ttft_p99_ms: s.ttft_ms.as_ref().map(|d| d.p99),
            tpot_p50_ms: s.tpot_ms.as_ref().map(|d| d.p50),
            tpot_p99_ms: s.tpot_ms.as_ref().map(|d| d.p99),
            peak_rss_mib: level.server_usage.rss_mib_max,
            errors: s.failed,
        })
    }

    /// Stops the server that is up, if any.
    pub fn stop(&mut self) {
        if let Some((_, mut server, _)) = self.running.take() {
            server.stop();
        }
    }
}

impl Evaluator for ServeEvaluator {
    async fn evaluate(
        &mut self,
        candidate: &Candidate,
        concurrency: u32,
        requests: usize,
    ) -> Evaluation {
        let started = Instant::now();
        let outcome = self
            .measure(candidate, concurrency, requests)
            .await
            .map_err(|e| format!("{e:#}"));
        if outcome.is_err() {
            // A server that failed (to start, or under load) is not reused.
            self.stop();
        }
        Evaluation {
            outcome,
            cost_s: started.elapsed().as_secs_f64(),
        }
    }
}

/// `arg` quoted for `sh -c`.
pub fn shell_quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

//! The real evaluator: each run starts its candidate as a `sluice serve` process on a free
//! loopback port (or another engine's command, from `[[engine]]`), drives it with the bench's
//! own sweep at one concurrency level, and stops it. Every run gets a fresh server: a server
//! that has seen the prompt set answers it again from its prefix cache, so a run on a reused
//! server measured 2x the goodput of the same run on a fresh one (docs/tune.md).

use super::search::{Evaluation, Evaluator, Measured};
use super::space::{flags, Candidate, ENGINE};
use crate::api::ApiKind;
use crate::experiment::{substitute, Engine, ServerProcess};
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
    program: PathBuf,
    /// Flags every server gets (`--model-id` and what the user passed on).
    base_args: Vec<String>,
    /// Other engines to compare, by name.
    engines: Vec<Engine>,
    /// The sweep settings of every run; concurrency and request count are the run's.
    bench: SweepSettings,
    /// Where each server's log goes.
    logs: PathBuf,
    running: Option<Running>,
    launches: usize,
}

/// The server up now.
struct Running {
    server: ServerProcess,
    url: String,
    api: ApiKind,
}

/// How to start a candidate and talk to it.
struct Launch {
    command: String,
    env: BTreeMap<String, String>,
    url: String,
    health: String,
    api: ApiKind,
    startup: Duration,
}

/// How long a `sluice serve` may take to answer /health (a model fetched on first use).
const SERVE_STARTUP: Duration = Duration::from_secs(600);

impl ServeEvaluator {
    pub fn new(
        program: PathBuf,
        base_args: Vec<String>,
        engines: Vec<Engine>,
        bench: SweepSettings,
        logs: PathBuf,
    ) -> Self {
        ServeEvaluator {
            program,
            base_args,
            engines,
            bench,
            logs,
            running: None,
            launches: 0,
        }
    }

    /// The serve command line of `candidate`, as a user would type it after `sluice`.
    fn serve_args(&self, candidate: &Candidate) -> Vec<String> {
        let mut args = vec!["serve".to_string()];
        args.extend(self.base_args.iter().cloned());
        args.extend(flags(candidate));
        args
    }

    /// The other engine `candidate` stands for, if it is one.
    fn engine_of(&self, candidate: &Candidate) -> Option<&Engine> {
        let name = candidate.get(ENGINE)?;
        self.engines.iter().find(|e| &e.name == name)
    }

    /// The command line that starts `candidate`, to paste: `sluice serve ...`, or another
    /// engine's command as its `[[engine]]` table gives it.
    pub fn command_line(&self, candidate: &Candidate) -> String {
        match self.engine_of(candidate) {
            // On the port it would serve users on: its own, or 8080 as `sluice serve`'s.
            Some(engine) => {
                let port = engine.port.unwrap_or(8080).to_string();
                let vars = BTreeMap::from([("port".to_string(), port)]);
                substitute(&engine.command, &vars).unwrap_or_else(|_| engine.command.clone())
            }
            None => std::iter::once("sluice".to_string())
                .chain(self.serve_args(candidate).iter().map(|a| shell_quote(a)))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// How to start `candidate` on `port`.
    fn launch(&self, candidate: &Candidate, port: u16) -> Result<Launch> {
        if let Some(engine) = self.engine_of(candidate) {
            let port = engine.port.unwrap_or(port);
            let vars = BTreeMap::from([("port".to_string(), port.to_string())]);
            let url = substitute(&engine.url, &vars)?;
            let env = engine
                .env
                .iter()
                .map(|(k, v)| Ok((k.clone(), substitute(v, &vars)?)))
                .collect::<Result<_>>()?;
            return Ok(Launch {
                command: substitute(&engine.command, &vars)?,
                env,
                health: match &engine.health_url {
                    Some(h) => substitute(h, &vars)?,
                    None => format!("{}/health", url.trim_end_matches('/')),
                },
                url,
                api: engine.api,
                startup: Duration::from_secs_f64(engine.startup_timeout.max(0.0)),
            });
        }
        let mut args = self.serve_args(candidate);
        args.extend(["--hostname", "127.0.0.1", "--port"].map(String::from));
        args.push(port.to_string());
        let url = format!("http://127.0.0.1:{port}");
        Ok(Launch {
            command: std::iter::once(self.program.display().to_string())
                .chain(args)
                .map(|a| shell_quote(&a))
                .collect::<Vec<_>>()
                .join(" "),
            env: BTreeMap::new(),
            health: format!("{url}/health"),
            url,
            api: ApiKind::Tgi,
            startup: SERVE_STARTUP,
        })
    }

    /// A fresh server for `candidate`.
    async fn start(&mut self, candidate: &Candidate) -> Result<()> {
        self.stop();
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let launch = self.launch(candidate, port)?;
        self.launches += 1;
        let log = self.logs.join(format!("candidate-{}.log", self.launches));
        let mut server = ServerProcess::spawn(
            "server",
            &launch.command,
            &launch.env,
            &log,
            Duration::from_secs(10),
        )?;
        server
            .wait_healthy(&launch.health, launch.startup)
            .await
            .with_context(|| format!("the server did not start (log: {})", log.display()))?;
        self.running = Some(Running {
            server,
            url: launch.url,
            api: launch.api,
        });
        Ok(())
    }

    async fn measure(
        &mut self,
        candidate: &Candidate,
        concurrency: u32,
        requests: usize,
    ) -> Result<Measured> {
        self.start(candidate).await?;
        let running = self.running.as_ref().context("no server is running")?;
        let (url, api, pgid) = (running.url.clone(), running.api, running.server.pgid());
        let bench = SweepSettings {
            num_prompts: requests,
            concurrency: vec![concurrency],
            request_rate: Vec::new(),
            // The first requests of a fresh server pay for touching its memory; the bench
            // warms up with at most 8 at a time.
            warmup: concurrency.min(8) as usize,
            ..self.bench.clone()
        };
        let mut run = RunResult::new("candidate".into(), &url, api, bench);
        let target = Target {
            url,
            api,
            watched: Some(Watched::Group(pgid)),
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
        if let Some(mut running) = self.running.take() {
            running.server.stop();
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
        self.stop();
        Evaluation {
            outcome,
            cost_s: started.elapsed().as_secs_f64(),
        }
    }
}

/// `arg` quoted for `sh -c`.
fn shell_quote(arg: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@".contains(c);
    if !arg.is_empty() && arg.chars().all(plain) {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', "'\\''"))
    }
}

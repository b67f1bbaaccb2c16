//! `sluice bench run EXPERIMENT.toml`: start each server, wait for health, sweep, stop, and
//! write one combined report, also when a server fails or the run is interrupted.

use super::template::substitute;
use super::{Engine, Experiment, ServerProcess};
use crate::cli::{finish, interruptible};
use crate::monitor::Watched;
use crate::report;
use crate::results::{BenchResults, RunResult};
use crate::sweep::{run_sweep, Target};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub async fn run(experiment: &Path, out: &Path, quiet: bool) -> Result<()> {
    let exp = Experiment::load(experiment)?;
    let plans = exp.plans()?;
    let logs = out.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display()))?;
    let mut runs: Vec<RunResult> = Vec::new();
    let outcome = interruptible(async {
        for plan in &plans {
            let engine = &exp.engines[plan.engine];
            let mut vars = plan.settings.clone();
            let port = match engine.port {
                Some(p) => p,
                None => free_port()?,
            };
            vars.insert("port".into(), port.to_string());
            let url = substitute(&engine.url, &vars)?;
            let mut run = RunResult::new(engine.name.clone(), &url, engine.api, plan.bench.clone());
            run.settings = plan.settings.clone();
            runs.push(run);
            let run = runs.last_mut().expect("a run was just pushed");
            if let Err(e) = launch_and_sweep(engine, &vars, &logs, quiet, run).await {
                tracing::error!("{}: {e:#}", run.label());
                run.error = Some(format!("{e:#}"));
            }
            // Partial results are on disk after every launch, whatever happens next.
            report::write_all(out, &BenchResults::new(runs.clone()))?;
        }
        Ok(())
    })
    .await;
    if let (Err(e), Some(last)) = (&outcome, runs.last_mut()) {
        last.error.get_or_insert_with(|| format!("{e:#}"));
    }
    finish(out, runs, outcome, true)
}

/// Starts the server, sweeps it and stops it; the server is stopped on every path out of
/// here, including the future being dropped on Ctrl-C (`ServerProcess` stops on drop).
async fn launch_and_sweep(
    engine: &Engine,
    vars: &BTreeMap<String, String>,
    logs: &Path,
    quiet: bool,
    run: &mut RunResult,
) -> Result<()> {
    let command = substitute(&engine.command, vars)?;
    let env = engine
        .env
        .iter()
        .map(|(k, v)| Ok((k.clone(), substitute(v, vars)?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    let health = match &engine.health_url {
        Some(h) => substitute(h, vars)?,
        None => format!("{}/health", run.url.trim_end_matches('/')),
    };
    let label = run.label();
    let log = logs.join(format!("{}.log", run.slug()));
    tracing::info!("starting {label}: {command}");
    let mut server = ServerProcess::spawn(
        &label,
        &command,
        &env,
        &log,
        Duration::from_secs_f64(engine.stop_grace.max(0.0)),
    )?;
    server
        .wait_healthy(
            &health,
            Duration::from_secs_f64(engine.startup_timeout.max(0.0)),
        )
        .await?;
    let target = Target {
        url: run.url.clone(),
        api: engine.api,
        watched: Some(Watched::Group(server.pgid())),
        quiet,
    };
    let result = run_sweep(&target, run).await;
    server.stop();
    result
}

/// A port that was free a moment ago (the server binds it right after).
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

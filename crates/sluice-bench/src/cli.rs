//! The `sluice bench` command line, and what each form of it does.

use crate::api::ApiKind;
use crate::experiment;
use crate::monitor::Watched;
use crate::report;
use crate::results::{BenchResults, RunResult};
use crate::settings::SweepSettings;
use crate::sweep::{run_sweep, Target};
use anyhow::{anyhow, bail, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `sluice bench`: measure a running server, run an experiment file, or re-render reports.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: Option<BenchCommand>,

    #[command(flatten)]
    pub sweep: SweepArgs,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Start each server of an experiment file, sweep it, stop it; one combined report.
    Run(RunArgs),
    /// Re-render reports from saved results; several directories go side by side.
    Report(ReportArgs),
}

/// Sweep a server that is already running.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Base URL of the server, e.g. http://127.0.0.1:3000.
    #[arg(long, env = "SLUICE_BENCH_URL", required = true)]
    pub url: Option<String>,

    /// Protocol to drive it with.
    #[arg(long, value_enum, env = "SLUICE_BENCH_API", default_value = "tgi")]
    pub api: ApiKind,

    /// Engine name in reports (default: the model id the server reports, else "server").
    #[arg(long, env = "SLUICE_BENCH_LABEL")]
    pub label: Option<String>,

    /// Directory for results.json, results.csv, report.md and plots/.
    #[arg(long, env = "SLUICE_BENCH_OUT", default_value = "bench-results")]
    pub out: PathBuf,

    /// Process id of the server, to sample its CPU and memory during the run.
    #[arg(long, env = "SLUICE_BENCH_SERVER_PID")]
    pub server_pid: Option<u32>,

    /// No progress bars.
    #[arg(long, env = "SLUICE_BENCH_QUIET")]
    pub quiet: bool,

    #[command(flatten)]
    pub settings: SweepSettings,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Experiment file (TOML): engines, their launch commands and a grid of settings.
    pub experiment: PathBuf,

    /// Directory for the combined results, reports and server logs.
    #[arg(long, env = "SLUICE_BENCH_OUT", default_value = "bench-results")]
    pub out: PathBuf,

    /// No progress bars.
    #[arg(long, env = "SLUICE_BENCH_QUIET")]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Result directories written by `sluice bench` (each holds a results.json).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,

    /// Where to write the report (default: the directory itself, when there is one).
    #[arg(long, env = "SLUICE_BENCH_REPORT_OUT")]
    pub out: Option<PathBuf>,
}

/// Runs `sluice bench ...`. Results that exist are written even when the run fails; the error
/// says what went wrong.
pub async fn run_async(args: BenchArgs) -> Result<()> {
    match args.command {
        Some(BenchCommand::Run(a)) => experiment::run(&a.experiment, &a.out, a.quiet).await,
        Some(BenchCommand::Report(a)) => {
            let out = report::combine(&a.dirs, a.out.as_deref())?;
            eprintln!("report written to {}", out.join("report.md").display());
            Ok(())
        }
        None => sweep_one(args.sweep).await,
    }
}

async fn sweep_one(a: SweepArgs) -> Result<()> {
    let url = a.url.ok_or_else(|| anyhow!("--url is required"))?;
    let target = Target {
        url: url.clone(),
        api: a.api,
        watched: a.server_pid.map(Watched::Pid),
        quiet: a.quiet,
    };
    let mut run = RunResult::new(
        a.label.clone().unwrap_or_else(|| "server".into()),
        &url,
        a.api,
        a.settings,
    );
    let outcome = interruptible(run_sweep(&target, &mut run)).await;
    if a.label.is_none() {
        if let Some(id) = model_id(run.server_info.as_ref()) {
            run.engine = id;
        }
    }
    if let Err(e) = &outcome {
        run.error = Some(format!("{e:#}"));
    }
    finish(&a.out, vec![run], outcome, false)
}

/// Writes results, then reports the first failure. A sweep that failed before finishing a
/// level writes nothing unless `always_write` (experiments: the launches and their errors are
/// results too).
pub(crate) fn finish(
    out: &std::path::Path,
    runs: Vec<RunResult>,
    outcome: Result<()>,
    always_write: bool,
) -> Result<()> {
    let has_levels = runs.iter().any(|r| !r.levels.is_empty());
    let results = BenchResults::new(runs);
    if has_levels || outcome.is_ok() || (always_write && !results.runs.is_empty()) {
        report::write_all(out, &results)?;
        eprintln!("results written to {}", out.join("report.md").display());
    }
    outcome?;
    if let Some(problem) = results.failure() {
        bail!("{problem} (see {})", out.join("report.md").display());
    }
    Ok(())
}

/// Runs `fut` until it ends or Ctrl-C arrives; Ctrl-C drops it (servers it started are stopped
/// by their guards) and becomes an error.
pub(crate) async fn interruptible(
    fut: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    tokio::select! {
        r = fut => r,
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
    }
}

/// The model id in TGI's `/info` or the first of OpenAI's `/v1/models`.
fn model_id(info: Option<&serde_json::Value>) -> Option<String> {
    let info = info?;
    info.get("model_id")
        .or_else(|| info.get("data")?.get(0)?.get("id"))?
        .as_str()
        .map(str::to_string)
}

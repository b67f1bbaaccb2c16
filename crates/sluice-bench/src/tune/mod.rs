//! `sluice tune`: the engine-choosing study, automated. It starts `sluice serve` itself with
//! candidate settings, finds by successive halving (short runs at one load) the few worth full
//! runs, runs those at every concurrency level to find where each one's goodput peaks, and
//! writes `report.md` with the best setting as a command line to paste.

mod plots;
mod report;
mod search;
mod serve;
mod space;

pub use search::{Evaluation, Evaluator, Measured, Search, SearchConfig, Stage, Trial};
pub use space::{Candidate, Space};

use crate::settings::SweepSettings;
use anyhow::Result;
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A mistake in how `sluice tune` was called (the binary exits 2, as for bad flags).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

#[derive(Debug, Clone, Args)]
pub struct TuneArgs {
    /// The model to serve (any source `sluice serve --model-id` takes); default: serve's.
    #[arg(long, env = "SLUICE_TUNE_MODEL_ID")]
    pub model_id: Option<String>,
    /// Prompt set: `builtin`, `random`, or a file (as `sluice bench --dataset`).
    #[arg(long, env = "SLUICE_TUNE_DATASET", default_value = "builtin")]
    pub dataset: String,
    /// Requests of a full run (screening runs use fewer).
    #[arg(long, env = "SLUICE_TUNE_NUM_PROMPTS", default_value_t = 32)]
    pub num_prompts: usize,
    #[arg(long, env = "SLUICE_TUNE_MAX_NEW_TOKENS", default_value_t = 64)]
    pub max_new_tokens: u32,
    /// Client concurrency levels the finalists run at; the middle one screens.
    #[arg(
        long,
        env = "SLUICE_TUNE_CONCURRENCY",
        value_delimiter = ',',
        default_value = "1,8,32"
    )]
    pub concurrency: Vec<u32>,
    /// SLO: 99th-percentile time to first token (e.g. 2s, 500ms).
    #[arg(long, env = "SLUICE_TUNE_SLO_TTFT_P99", value_parser = parse_duration)]
    pub slo_ttft_p99: Option<Duration>,
    /// SLO: 99th-percentile time per output token (e.g. 100ms).
    #[arg(long, env = "SLUICE_TUNE_SLO_TPOT_P99", value_parser = parse_duration)]
    pub slo_tpot_p99: Option<Duration>,
    /// Time the search may spend (e.g. 20m); a run that would not fit is not started.
    #[arg(long, env = "SLUICE_TUNE_BUDGET", default_value = "20m", value_parser = parse_budget)]
    pub budget: Duration,
    /// Directory for report.md, results.json and the servers' logs.
    #[arg(long, env = "SLUICE_TUNE_OUT", default_value = "tune-results")]
    pub out: PathBuf,
    /// A TOML file whose `[space]` table replaces the values tried for the settings it names
    /// (an empty list leaves a setting at serve's default).
    #[arg(long, env = "SLUICE_TUNE_SPACE")]
    pub space: Option<PathBuf>,
    /// A flag every server gets, repeated as needed (e.g. --serve-arg=--kv-cache-memory=512).
    #[arg(
        long = "serve-arg",
        env = "SLUICE_TUNE_SERVE_ARGS",
        value_delimiter = ' ',
        allow_hyphen_values = true
    )]
    pub serve_args: Vec<String>,
    /// No progress lines.
    #[arg(long, env = "SLUICE_TUNE_QUIET")]
    pub quiet: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration such as 2s or 100ms: {e}"))
}

fn parse_budget(text: &str) -> Result<Duration, String> {
    let budget = parse_duration(text)?;
    if budget.is_zero() {
        return Err("the budget must be more than zero".into());
    }
    Ok(budget)
}

/// Runs `sluice tune` with `program` as the `sluice` binary, on its own runtime.
pub fn run(args: TuneArgs, program: PathBuf) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run_async(args, program))
}

pub async fn run_async(args: TuneArgs, program: PathBuf) -> Result<()> {
    if args.concurrency.is_empty() || args.concurrency.contains(&0) {
        return Err(UsageError("--concurrency levels must be at least 1".into()).into());
    }
    if args.num_prompts == 0 {
        return Err(UsageError("--num-prompts must be at least 1".into()).into());
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let space = match &args.space {
        Some(path) => Space::load(path, Space::default_for(cores))?,
        None => Space::default_for(cores),
    };
    let config = SearchConfig {
        levels: args.concurrency.clone(),
        num_prompts: args.num_prompts,
        budget_s: args.budget.as_secs_f64(),
        ttft_p99_ms: args.slo_ttft_p99.map(|d| d.as_secs_f64() * 1e3),
        tpot_p99_ms: args.slo_tpot_p99.map(|d| d.as_secs_f64() * 1e3),
    };
    let bench = SweepSettings {
        dataset: args.dataset.clone(),
        max_new_tokens: args.max_new_tokens,
        slo_ttft: config.ttft_p99_ms,
        slo_tpot: config.tpot_p99_ms,
        ..SweepSettings::default()
    };
    let logs = args.out.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut base_args: Vec<String> = Vec::new();
    if let Some(model) = &args.model_id {
        base_args.extend(["--model-id".to_string(), model.clone()]);
    }
    base_args.extend(args.serve_args.iter().filter(|a| !a.is_empty()).cloned());
    let mut evaluator =
        serve::ServeEvaluator::new(program, base_args, space.engines.clone(), bench, logs);
    let mut search = Search {
        candidates: space.candidates(),
        ..Search::default()
    };
    if !args.quiet {
        eprintln!(
            "tune: {} candidates, levels {:?}, budget {:.0} s",
            search.candidates.len(),
            config.levels,
            config.budget_s
        );
    }
    let mut progress = Progress {
        quiet: args.quiet,
        inner: &mut evaluator,
        budget_s: config.budget_s,
        spent_s: 0.0,
        runs: 0,
    };
    let interrupted = search_until(&config, &mut progress, &mut search, ctrl_c()).await;
    evaluator.stop();
    let command_of = |c: usize| evaluator.command_line(&search.candidates[c]);
    report::write(&args.out, &config, &search, command_of)?;
    finish(&args.out, &config, &search, interrupted, &evaluator)
}

async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Runs the search until it ends or `interrupt` resolves; returns whether it was
/// interrupted (then `search` holds what was measured so far).
pub async fn search_until(
    config: &SearchConfig,
    evaluator: &mut impl Evaluator,
    search: &mut Search,
    interrupt: impl std::future::Future<Output = ()>,
) -> bool {
    let interrupted = tokio::select! {
        () = search::run(config, evaluator, search) => false,
        () = interrupt => true,
    };
    if interrupted {
        search.stopped = Some("interrupted".into());
    }
    interrupted
}

/// Writes the report of a search (also of an interrupted one) to `out`.
pub fn write_report(
    out: &Path,
    config: &SearchConfig,
    search: &Search,
    command_of: impl Fn(usize) -> String,
) -> Result<()> {
    report::write(out, config, search, command_of)
}

fn finish(
    out: &Path,
    config: &SearchConfig,
    search: &Search,
    interrupted: bool,
    evaluator: &serve::ServeEvaluator,
) -> Result<()> {
    let report = out.join("report.md");
    match search.recommendation(config) {
        Some((c, _)) => println!("{}", evaluator.command_line(&search.candidates[c])),
        None => eprintln!("tune: no setting met the SLOs; see {}", report.display()),
    }
    eprintln!("tune: report written to {}", report.display());
    anyhow::ensure!(
        !interrupted,
        "interrupted; the report holds what was measured"
    );
    Ok(())
}

/// Prints a line per run with the budget left.
struct Progress<'a, E> {
    quiet: bool,
    inner: &'a mut E,
    budget_s: f64,
    spent_s: f64,
    runs: usize,
}

impl<E: Evaluator> Evaluator for Progress<'_, E> {
    async fn evaluate(
        &mut self,
        candidate: &Candidate,
        concurrency: u32,
        requests: usize,
    ) -> Evaluation {
        let evaluation = self.inner.evaluate(candidate, concurrency, requests).await;
        self.spent_s += evaluation.cost_s;
        self.runs += 1;
        if !self.quiet {
            let result = match &evaluation.outcome {
                Ok(m) => format!(
                    "{:.1} tok/s, goodput {:.2} req/s",
                    m.output_tok_s, m.goodput
                ),
                Err(e) => format!("failed: {e}"),
            };
            eprintln!(
                "tune: run {} [{:.0}/{:.0} s] {} @{concurrency} x{requests}: {result}",
                self.runs,
                self.spent_s,
                self.budget_s,
                space::describe(candidate),
            );
        }
        evaluation
    }
}

//! `sluice`: the only binary; flags to configs and commands to crates, each in its own module.
//! May import every sluice crate but `sluice-models` (it loads through the engine), and no candle.

mod engine_args;
mod fetch;
mod generate;
mod replicas;
mod serve;
mod tgi_flags;

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "LLM inference server and benchmark suite"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the model over TGI- and OpenAI-compatible HTTP APIs.
    Serve(serve::ServeArgs),
    /// Measure any TGI- or OpenAI-compatible server under load; run experiments; render reports.
    Bench(sluice_bench::BenchArgs),
    /// Search the serve settings that matter on this machine (replicas, step budget, running
    /// requests, KV-cache type, speculation) for the best goodput under SLOs; writes a report
    /// whose first line is the `sluice serve` command to paste.
    Tune(sluice_bench::tune::TuneArgs),
    /// Balance requests over running servers (sluice, TGI, vLLM, llama-server).
    Route(sluice_router::RouteArgs),
    /// Generate text for one prompt, or for a JSONL file of prompts batched together.
    Generate(generate::GenerateArgs),
    /// Download a known model into the cache ahead of time.
    Fetch(fetch::FetchArgs),
}

fn main() -> ExitCode {
    let args = match tgi_flags::screen(std::env::args().collect()) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        // Usage mistakes get the same one-line error as everything else; --help and
        // --version print as usual.
        Err(e) if e.use_stderr() => {
            let rendered = e.to_string();
            let message: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty() && !l.starts_with("Usage"))
                .map(str::trim)
                .collect();
            eprintln!("{}", message.join(" "));
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Bench(args) => sluice_bench::run(args),
        Command::Tune(args) => std::env::current_exe()
            .map_err(anyhow::Error::from)
            .and_then(|program| sluice_bench::tune::run(args, program)),
        Command::Route(args) => sluice_router::run(args),
        Command::Generate(args) => generate::run(args),
        Command::Fetch(args) => fetch::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the error and its causes, joined.
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            // A usage mistake found after parsing exits as clap's do.
            match e.downcast_ref::<sluice_bench::tune::UsageError>() {
                Some(_) => ExitCode::from(2),
                None => ExitCode::FAILURE,
            }
        }
    }
}

/// `sluice serve`: one engine, or `--replicas` of them behind the router.
fn serve(args: serve::ServeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.replicas >= 1, "--replicas must be at least 1");
    tgi_flags::check_sharding(&args)?;
    if args.replicas > 1 {
        replicas::run(&args)
    } else {
        serve::run(args)
    }
}

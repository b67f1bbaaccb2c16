//! `sluice bench` without the rest of the `sluice` binary (which links the engine): the same
//! arguments, for trying the bench while it is not wired into sluice-cli, and for scripts.
//!
//!     cargo run --release -p sluice-bench --example bench -- --url http://127.0.0.1:3000 --api tgi

use clap::Parser;

#[derive(Parser)]
#[command(name = "sluice bench")]
struct Cli {
    #[command(flatten)]
    bench: sluice_bench::BenchArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match sluice_bench::run(cli.bench) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            std::process::ExitCode::FAILURE
        }
    }
}

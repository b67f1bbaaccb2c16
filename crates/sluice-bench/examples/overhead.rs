//! How much CPU the load generator needs per token/s: the issue asks for at least 2,000
//! streamed tokens/s with under 10% of one core per 1,000 tokens/s.
//!
//! Starts the test stub server in a child process (this same binary, `serve`), so that the
//! stub's CPU is not counted, sweeps it with `sluice bench` through both APIs, and prints the
//! load generator's own CPU time (getrusage, measured around each level) per output token/s.
//!
//!     cargo run -p sluice-bench --example overhead [-- TOKEN_DELAY_MS]
//!
//! The stub sleeps TOKEN_DELAY_MS (default 5) before each token, so every token is its own
//! chunk on the wire, the costliest case for the client.

#[path = "../tests/support/stub.rs"]
mod stub;

use clap::Parser;
use sluice_bench::results::BenchResults;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: sluice_bench::BenchArgs,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let delay_ms: u64 = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    if args.get(1).map(String::as_str) == Some("serve") {
        return serve(Duration::from_millis(delay_ms));
    }
    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", &delay_ms.to_string()])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut url = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut url)?;
    let url = url.trim().to_string();
    let out = tempfile::tempdir()?;
    println!("stub at {url}, {delay_ms} ms per token; 256 output tokens per request\n");
    println!(
        "| api | load | output tok/s | bench CPU (% of one core) | % of a core per 1,000 tok/s |"
    );
    println!("|---|---|---|---|---|");
    for api in ["tgi", "openai"] {
        let dir = out.path().join(api);
        let cli = Cli::try_parse_from([
            "bench",
            "--url",
            &url,
            "--api",
            api,
            "--dataset",
            "random",
            "--random-input-len",
            "32",
            "--random-output-len",
            "256",
            "--num-prompts",
            "128",
            "--concurrency",
            "16,64",
            "--warmup",
            "8",
            "--quiet",
            "--out",
            dir.to_str().expect("utf-8 temp dir"),
        ])?;
        sluice_bench::run(cli.bench)?;
        for level in &BenchResults::read(&dir)?.runs[0].levels {
            let s = &level.summary;
            let cpu_pct = 100.0 * level.client_cpu_s / s.duration_s;
            println!(
                "| {api} | {} | {:.0} | {cpu_pct:.1} | {:.2} |",
                level.load,
                s.output_throughput,
                cpu_pct / (s.output_throughput / 1000.0)
            );
        }
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}

/// The stub on one worker thread, so that it leaves the other core to the load generator.
fn serve(delay: Duration) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?
        .block_on(async {
            println!("{}", stub::start(delay).await);
            std::future::pending::<anyhow::Result<()>>().await
        })
}

//! The load generator and experiment runner behind `sluice bench`: workloads, clients, reports.
//! May import HTTP and report crates; never a sluice crate (it measures any server over HTTP).
//!
//! It drives any TGI- or OpenAI-compatible server (sluice, TGI, vLLM, Aphrodite,
//! llama-server) with a fixed prompt set at several concurrency levels or request rates, and
//! reports time to finish, throughput, latency percentiles, goodput and errors as Markdown,
//! CSV, JSON and SVG.
//!
//! The `sluice` binary wires `sluice bench` to [`BenchArgs`] and [`run`].

pub mod api;
pub mod arrivals;
mod cli;
pub mod client;
pub mod dataset;
pub mod experiment;
pub mod load;
pub mod machine;
pub mod monitor;
mod progress;
mod prompt_tokens;
pub mod record;
pub mod report;
pub mod results;
pub mod settings;
mod sse;
pub mod stats;
pub mod summary;
pub mod sweep;
pub mod tune;
mod wire;

pub use cli::{run_async, BenchArgs, BenchCommand, ReportArgs, RunArgs, SweepArgs};

/// Runs `sluice bench ...` on its own single-threaded tokio runtime: the load generator is I/O
/// bound, and one thread keeps its CPU use low and predictable beside a server on the same
/// machine. Call [`run_async`] instead from inside a runtime.
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run_async(args))
}

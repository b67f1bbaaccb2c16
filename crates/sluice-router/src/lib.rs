//! `sluice route`, a streaming load balancer over inference replicas, and `--replicas N`.
//! May import HTTP crates; never a sluice crate (replicas are anything that speaks the API).
//!
//! It depends on no engine code: replicas are anything that speaks the HTTP API, so the same
//! router fronts sluice, TGI or vLLM. See docs/router.md.

mod args;
mod body;
mod config;
mod discovery;
mod error;
mod health;
mod metrics;
pub mod policy;
mod pool;
mod prompt;
mod proxy;
mod replica;
#[cfg(unix)]
pub mod replicas;
mod server;
mod signal;
mod upstream;

pub use args::RouteArgs;
pub use config::{parse_duration, RouterConfig};
pub use discovery::DnsTarget;
pub use error::Error;
pub use proxy::ForwardLimits;
pub use server::{serve, PROXIED_ROUTES};
pub use signal::shutdown_signal;
pub use upstream::Upstream;

use anyhow::Context;

/// `sluice route`: serves until Ctrl-C or SIGTERM. Bad flags fail before anything binds.
pub fn run(args: RouteArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    runtime()?.block_on(async {
        let addr = args.listen_addr();
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        serve(config, listener, shutdown_signal()).await?;
        Ok(())
    })
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

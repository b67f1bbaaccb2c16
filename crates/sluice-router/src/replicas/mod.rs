//! `sluice serve --replicas N`: N replica processes on this machine, each on its own loopback
//! port with its share of the CPU threads (pinned to its share of the cores on Linux), and
//! the router in front on the public port. A replica that dies is restarted; stopping the
//! whole (Ctrl-C, SIGTERM, or the router failing) stops every replica.
//!
//! Generic over the program: the CLI passes its own executable and `serve` flags
//! ([`ReplicaCommand::serve`]); tests pass a stub.

mod plan;
mod process;
mod supervisor;

pub use plan::{plan, usable_cores, Slot};
pub use process::ReplicaCommand;

use crate::config::RouterConfig;
use anyhow::Context;
use process::ReplicaProcess;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

#[derive(Clone, Debug)]
pub struct ReplicasConfig {
    pub command: ReplicaCommand,
    pub replicas: usize,
    /// CPU threads for all replicas together.
    pub threads: usize,
    /// Pin each replica to its share of the cores (Linux only; best effort).
    pub pin: bool,
    /// The router in front; its upstreams are replaced by the replicas.
    pub router: RouterConfig,
    /// How long replicas may take to answer /health at start-up (model loading).
    pub ready_timeout: Duration,
    /// How long a replica may take to exit after SIGTERM before it gets SIGKILL.
    pub grace: Duration,
}

impl ReplicasConfig {
    /// `replicas` copies of `command` sharing `threads`, pinned, behind a default router.
    pub fn new(command: ReplicaCommand, replicas: usize, threads: usize) -> Self {
        ReplicasConfig {
            command,
            replicas,
            threads,
            pin: true,
            router: RouterConfig::with_upstreams(Vec::new()),
            ready_timeout: Duration::from_secs(600),
            grace: Duration::from_secs(10),
        }
    }
}

/// Runs the replicas and the router on `listen_addr` until Ctrl-C or SIGTERM.
pub fn run(config: ReplicasConfig, listen_addr: &str) -> anyhow::Result<()> {
    crate::runtime()?.block_on(async {
        let listener = TcpListener::bind(listen_addr)
            .await
            .with_context(|| format!("cannot listen on {listen_addr}"))?;
        serve(config, listener, crate::shutdown_signal()).await
    })
}

/// Starts the replicas, waits for their health, routes on `listener` until `shutdown`, then
/// stops every replica. Also stops them when start-up fails.
pub async fn serve(
    config: ReplicasConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let cores = if config.pin {
        usable_cores()
    } else {
        Vec::new()
    };
    let mut slots = plan(config.replicas, config.threads, &cores);
    plan::assign_free_ports(&mut slots).context("cannot find free ports for the replicas")?;
    let mut processes = Vec::with_capacity(slots.len());
    for slot in &slots {
        tracing::info!(replica = slot.index, port = slot.port, threads = slot.threads, cores = ?slot.cores, "starting replica");
        processes.push(ReplicaProcess::spawn(&config.command, slot)?);
    }
    if let Err(e) = supervisor::wait_ready(&slots, &mut processes, config.ready_timeout).await {
        for process in processes {
            process.stop(config.grace).await;
        }
        return Err(e);
    }

    let (stop, stopped) = watch::channel(false);
    let mut supervisors = JoinSet::new();
    for (slot, process) in slots.iter().zip(processes) {
        supervisors.spawn(supervisor::supervise(
            config.command.clone(),
            slot.clone(),
            process,
            stopped.clone(),
            config.grace,
        ));
    }
    let router = RouterConfig {
        upstreams: slots.iter().map(supervisor::upstream_of).collect(),
        ..config.router
    };
    let served = crate::serve(router, listener, shutdown).await;
    let _ = stop.send(true);
    while supervisors.join_next().await.is_some() {}
    tracing::info!("all replicas stopped");
    Ok(served?)
}

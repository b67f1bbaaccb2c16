//! Keeping replicas alive: wait until they all answer /health, restart one that dies, and
//! stop them all when told.

use super::plan::Slot;
use super::process::{ReplicaCommand, ReplicaProcess};
use crate::health::probe;
use crate::proxy::http_client;
use crate::upstream::Upstream;
use anyhow::{bail, Context};
use std::time::Duration;
use tokio::sync::watch;

/// Pause before restarting a replica that exited, so one that fails at once does not spin.
const RESTART_DELAY: Duration = Duration::from_secs(1);
/// Pause between readiness probes at start-up.
const READY_POLL: Duration = Duration::from_millis(200);

pub fn upstream_of(slot: &Slot) -> Upstream {
    Upstream::from_port(slot.port)
}

/// Waits until every replica answers /health. Fails when one exits first (its own stderr says
/// why) or when `timeout` passes.
pub async fn wait_ready(
    slots: &[Slot],
    processes: &mut [ReplicaProcess],
    timeout: Duration,
) -> anyhow::Result<()> {
    let client = http_client();
    let upstreams: Vec<Upstream> = slots.iter().map(upstream_of).collect();
    let mut ready = vec![false; slots.len()];
    let attempts = (timeout.as_millis() / READY_POLL.as_millis()).max(1);
    for _ in 0..attempts {
        for (i, process) in processes.iter_mut().enumerate() {
            if let Some(status) = process.try_wait().context("cannot check a replica")? {
                bail!(
                    "replica {i} (port {}) exited during start-up: {status}",
                    slots[i].port
                );
            }
            if !ready[i] {
                ready[i] = probe(
                    &client,
                    &upstreams[i],
                    READY_POLL.max(Duration::from_secs(1)),
                )
                .await;
            }
        }
        if ready.iter().all(|&r| r) {
            return Ok(());
        }
        tokio::time::sleep(READY_POLL).await;
    }
    bail!("replicas not healthy after {timeout:?}")
}

/// Runs one replica until `stop` turns true: restarts it (with a log line) whenever it exits,
/// then stops it with SIGTERM and, after `grace`, SIGKILL.
pub async fn supervise(
    command: ReplicaCommand,
    slot: Slot,
    mut process: ReplicaProcess,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    loop {
        let exited = tokio::select! {
            exited = process.wait() => exited,
            () = stopped(&mut stop) => {
                process.stop(grace).await;
                return;
            }
        };
        let status = exited.map_or_else(|e| e.to_string(), |s| s.to_string());
        tracing::warn!(
            replica = slot.index,
            port = slot.port,
            "replica exited ({status}): restarting"
        );
        process = match restart(&command, &slot, &mut stop).await {
            Some(p) => p,
            None => return,
        };
    }
}

/// Starts the replica again after [`RESTART_DELAY`], retrying until it starts; `None` when told
/// to stop meanwhile.
async fn restart(
    command: &ReplicaCommand,
    slot: &Slot,
    stop: &mut watch::Receiver<bool>,
) -> Option<ReplicaProcess> {
    loop {
        tokio::select! {
            () = tokio::time::sleep(RESTART_DELAY) => {}
            () = stopped(stop) => return None,
        }
        match ReplicaProcess::spawn(command, slot) {
            Ok(process) => {
                tracing::info!(
                    replica = slot.index,
                    port = slot.port,
                    pid = process.id(),
                    "replica restarted"
                );
                return Some(process);
            }
            Err(e) => tracing::error!(replica = slot.index, "cannot restart replica: {e}"),
        }
    }
}

/// Completes once the supervisor is told to stop (or the sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`: drop it here, not across a caller's await.
    let _ = stop.wait_for(|&s| s).await;
}

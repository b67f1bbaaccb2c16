//! Starting and stopping one replica process.

use super::plan::Slot;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::process::{Child, Command};

/// The program each replica runs. In `args`, `{port}`, `{threads}` and `{index}` are replaced
/// by the replica's own values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
}

impl ReplicaCommand {
    /// How `sluice serve --replicas N` runs each replica: `program` with the given serve flags
    /// (minus --replicas, --hostname, --port, --threads), listening on loopback only, on its
    /// own port, with its share of the threads.
    pub fn serve(program: impl Into<PathBuf>, serve_args: Vec<String>) -> Self {
        let mut args = serve_args;
        args.extend(
            [
                "--hostname",
                "127.0.0.1",
                "--port",
                "{port}",
                "--threads",
                "{threads}",
            ]
            .map(String::from),
        );
        ReplicaCommand {
            program: program.into(),
            args,
        }
    }

    pub fn args_for(&self, slot: &Slot) -> Vec<String> {
        self.args
            .iter()
            .map(|a| {
                a.replace("{port}", &slot.port.to_string())
                    .replace("{threads}", &slot.threads.to_string())
                    .replace("{index}", &slot.index.to_string())
            })
            .collect()
    }
}

/// A running replica. Dropping it kills the process (a last resort: [`ReplicaProcess::stop`]
/// is the polite way).
#[derive(Debug)]
pub struct ReplicaProcess {
    child: Child,
}

impl ReplicaProcess {
    pub fn spawn(command: &ReplicaCommand, slot: &Slot) -> io::Result<Self> {
        let mut cmd = Command::new(&command.program);
        cmd.args(command.args_for(slot))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        pin_to_cores(&mut cmd, &slot.cores);
        let child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot start {}: {e}", command.program.display()),
            )
        })?;
        Ok(ReplicaProcess { child })
    }

    pub fn id(&self) -> Option<u32> {
        self.child.id()
    }

    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// `Some(status)` when it has exited.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`; returns once it is reaped.
    pub async fn stop(mut self, grace: Duration) {
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            if let Ok(Ok(_)) = tokio::time::timeout(grace, self.child.wait()).await {
                return;
            }
            tracing::warn!(
                pid,
                "replica still running {grace:?} after SIGTERM: killing it"
            );
        }
        let _ = self.child.kill().await;
    }
}

/// Pins the process to `cores` before it runs its first instruction, so every thread the
/// engine starts inherits the mask. `sched_setaffinity` from `nix` rather than
/// `core_affinity` (which pins the calling thread to a single core) or `taskset` (a program
/// that may not be installed): one syscall, a set of cores, no extra process.
#[cfg(target_os = "linux")]
fn pin_to_cores(cmd: &mut Command, cores: &[usize]) {
    use nix::sched::{sched_setaffinity, CpuSet};
    let mut set = CpuSet::new();
    if cores.is_empty() || cores.iter().any(|&c| set.set(c).is_err()) {
        return;
    }
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // calls are allowed; it makes one syscall on a mask built in the parent and allocates
    // nothing. Pinning is best effort: a refusal (e.g. a core outside the container's cpuset)
    // leaves the replica unpinned rather than unstarted.
    unsafe {
        cmd.pre_exec(move || {
            let _ = sched_setaffinity(Pid::from_raw(0), &set);
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn pin_to_cores(_cmd: &mut Command, _cores: &[usize]) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_the_template_per_replica() {
        let command = ReplicaCommand::serve(
            "sluice",
            vec!["serve".into(), "--model-id".into(), "m.gguf".into()],
        );
        let slot = Slot {
            index: 1,
            port: 4001,
            threads: 3,
            cores: vec![],
        };
        assert_eq!(
            command.args_for(&slot).join(" "),
            "serve --model-id m.gguf --hostname 127.0.0.1 --port 4001 --threads 3"
        );
    }
}

//! A server started by the experiment runner: its own process group, a log file, a health
//! wait, and a stop (SIGTERM, then SIGKILL after a grace period) that also runs on drop, so a
//! failed or interrupted run never leaves a server behind.

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ServerProcess {
    name: String,
    child: Child,
    log: PathBuf,
    grace: Duration,
    stopped: bool,
}

impl ServerProcess {
    /// Runs `command` with `sh -c` in a new process group, stdout and stderr to `log`.
    pub fn spawn(
        name: &str,
        command: &str,
        env: &BTreeMap<String, String>,
        log: &Path,
        grace: Duration,
    ) -> Result<Self> {
        let file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(command)
            .envs(env)
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start {name}: sh -c {command}"))?;
        Ok(Self {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
            grace,
            stopped: false,
        })
    }

    /// The process group id: the pid of the shell, which leads the group.
    pub fn pgid(&self) -> u32 {
        self.child.id()
    }

    /// Polls `health_url` until it answers 2xx; fails when the process exits first or
    /// `timeout` passes.
    pub async fn wait_healthy(&mut self, health_url: &str, timeout: Duration) -> Result<()> {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before becoming healthy; last log lines: {}",
                    self.name,
                    self.log_tail()
                );
            }
            let probe = http
                .get(health_url)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not become healthy at {health_url} within {:.0} s (log: {})",
                    self.name,
                    timeout.as_secs_f64(),
                    self.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// SIGTERM to the whole group, SIGKILL to what is left after the grace period.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let group = self.pgid() as libc::pid_t;
        for (signal, wait) in [
            (libc::SIGTERM, self.grace),
            (libc::SIGKILL, Duration::from_secs(5)),
        ] {
            if !group_alive(group, &mut self.child) {
                return;
            }
            // SAFETY: kill has no memory effects; a negative pid names our own child's group.
            unsafe { libc::kill(-group, signal) };
            let until = Instant::now() + wait;
            while Instant::now() < until {
                if !group_alive(group, &mut self.child) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        tracing::warn!("{}: processes of group {group} survived SIGKILL", self.name);
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(3).collect();
        let tail: Vec<&str> = lines.into_iter().rev().collect();
        format!("{} (full log: {})", tail.join(" / "), self.log.display())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reaps the shell if it exited, then asks whether any process of the group is left.
fn group_alive(group: libc::pid_t, child: &mut Child) -> bool {
    let _ = child.try_wait();
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(-group, 0) == 0 }
}

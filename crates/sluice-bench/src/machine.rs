//! The machine a run was measured on, saved with every result.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub hostname: String,
    pub cpu_model: String,
    /// Logical CPUs available to this process.
    pub cpus: usize,
    pub memory_gib: f64,
    /// `PRETTY_NAME` of /etc/os-release and the kernel release.
    pub os: String,
    /// `nvidia-smi` names and memory, when it exists.
    pub gpus: Vec<String>,
}

impl Machine {
    /// Reads what the OS tells; missing files leave fields empty rather than failing a run.
    pub fn detect() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = field(&cpuinfo, "model name")
            .or_else(|| field(&cpuinfo, "Model")) // ARM boards
            .unwrap_or_else(|| std::env::consts::ARCH.to_string());
        let mem_kib: f64 = field(&read("/proc/meminfo"), "MemTotal")
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let os_name = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        let kernel = read("/proc/sys/kernel/osrelease");
        Self {
            hostname: read("/proc/sys/kernel/hostname").trim().to_string(),
            cpu_model,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: (mem_kib / (1024.0 * 1024.0) * 10.0).round() / 10.0,
            os: format!("{os_name}, kernel {}", kernel.trim()),
            gpus: nvidia_smi(&["--query-gpu=name,memory.total", "--format=csv,noheader"])
                .map(|out| out.lines().map(str::to_string).collect())
                .unwrap_or_default(),
        }
    }

    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} ({} CPUs), {} GiB RAM, {}",
            self.cpu_model, self.cpus, self.memory_gib, self.os
        );
        for g in &self.gpus {
            s.push_str(", GPU ");
            s.push_str(g);
        }
        s
    }
}

/// The value of the first `key : value` line of a /proc file.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// Output of `nvidia-smi ARGS`; `None` where it is not installed or fails.
pub fn nvidia_smi(args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("nvidia-smi")
        .args(args)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

//! Resource use while a level runs: the server's CPU and memory (from /proc), the GPUs' (from
//! nvidia-smi where it exists), and the load generator's own CPU time.
//!
//! Sampling runs on its own thread so that it neither waits on nor slows the request tasks.

use crate::machine::nvidia_smi;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_millis(500);

/// Which processes are the server.
#[derive(Debug, Clone, Copy)]
pub enum Watched {
    /// One process (`--server-pid`).
    Pid(u32),
    /// Every process of a process group: what the experiment runner starts.
    Group(u32),
}

/// Summary of the samples taken during one level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceUsage {
    pub samples: usize,
    /// Server CPU time per wall time, in percent of one core (200 = two cores busy).
    pub cpu_percent_mean: Option<f64>,
    pub cpu_percent_max: Option<f64>,
    pub rss_mib_max: Option<f64>,
    pub gpu_util_percent_mean: Option<f64>,
    pub gpu_mem_mib_max: Option<f64>,
}

/// A running sampler; `stop` ends it and summarises.
pub struct Monitor {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<ResourceUsage>,
}

impl Monitor {
    pub fn start(watched: Option<Watched>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let gpu = nvidia_smi(&["-L"]).is_some();
        let thread = std::thread::spawn(move || sample_until(&flag, watched, gpu));
        Self { stop, thread }
    }

    pub fn stop(self) -> ResourceUsage {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

fn sample_until(stop: &AtomicBool, watched: Option<Watched>, gpu: bool) -> ResourceUsage {
    let mut cpu = Vec::new();
    let mut rss = Vec::new();
    let mut gpu_util = Vec::new();
    let mut gpu_mem = Vec::new();
    let mut samples = 0;
    let mut prev = watched.map(|w| (Instant::now(), cpu_ticks_and_rss(w).0));
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(INTERVAL);
        samples += 1;
        if let (Some(w), Some((t0, ticks0))) = (watched, prev) {
            let (ticks, rss_bytes) = cpu_ticks_and_rss(w);
            let now = Instant::now();
            let secs = (ticks.saturating_sub(ticks0)) as f64 / clock_ticks_per_s();
            cpu.push(100.0 * secs / (now - t0).as_secs_f64());
            rss.push(rss_bytes as f64 / (1024.0 * 1024.0));
            prev = Some((now, ticks));
        }
        if gpu {
            if let Some((util, mem)) = gpu_sample() {
                gpu_util.push(util);
                gpu_mem.push(mem);
            }
        }
    }
    ResourceUsage {
        samples,
        cpu_percent_mean: mean(&cpu),
        cpu_percent_max: max(&cpu),
        rss_mib_max: max(&rss),
        gpu_util_percent_mean: mean(&gpu_util),
        gpu_mem_mib_max: max(&gpu_mem),
    }
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

fn max(v: &[f64]) -> Option<f64> {
    v.iter().copied().reduce(f64::max)
}

/// Mean utilisation and total memory used over all GPUs.
fn gpu_sample() -> Option<(f64, f64)> {
    let out = nvidia_smi(&[
        "--query-gpu=utilization.gpu,memory.used",
        "--format=csv,noheader,nounits",
    ])?;
    let rows: Vec<(f64, f64)> = out
        .lines()
        .filter_map(|l| {
            let (u, m) = l.split_once(',')?;
            Some((u.trim().parse().ok()?, m.trim().parse().ok()?))
        })
        .collect();
    let util = mean(&rows.iter().map(|r| r.0).collect::<Vec<_>>())?;
    Some((util, rows.iter().map(|r| r.1).sum()))
}

/// Total user+system clock ticks and resident bytes of the watched processes.
fn cpu_ticks_and_rss(w: Watched) -> (u64, u64) {
    let pids: Vec<u32> = match w {
        Watched::Pid(pid) => vec![pid],
        Watched::Group(_) => std::fs::read_dir("/proc")
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default(),
    };
    let page = page_size();
    let mut total = (0, 0);
    for pid in pids {
        let Some(stat) = read_stat(pid) else { continue };
        if let Watched::Group(g) = w {
            if stat.pgrp != g {
                continue;
            }
        }
        total.0 += stat.utime + stat.stime;
        total.1 += stat.rss_pages * page;
    }
    total
}

struct Stat {
    pgrp: u32,
    utime: u64,
    stime: u64,
    rss_pages: u64,
}

/// Fields of /proc/PID/stat (see proc(5)); the command name may hold spaces and parentheses,
/// so fields are counted from the last `)`.
fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state): field n is f[n - 3].
    Some(Stat {
        pgrp: f.get(2)?.parse().ok()?,
        utime: f.get(11)?.parse().ok()?,
        stime: f.get(12)?.parse().ok()?,
        rss_pages: f.get(21)?.parse().ok()?,
    })
}

fn clock_ticks_per_s() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

fn page_size() -> u64 {
    // SAFETY: as above.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(p).unwrap_or(4096)
}

/// User plus system CPU time of this process (all threads) so far, in seconds.
pub fn own_cpu_seconds() -> f64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer we pass, which is valid.
    let ru = unsafe {
        if libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) != 0 {
            return 0.0;
        }
        ru.assume_init()
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watches_its_own_process() {
        let me = std::process::id();
        let stat = read_stat(me).unwrap();
        assert!(stat.rss_pages > 0);
        // Spin until the CPU clock moves (its resolution is a scheduler tick), at most 5 s.
        let start = own_cpu_seconds();
        let wall = Instant::now();
        while own_cpu_seconds() <= start && wall.elapsed() < Duration::from_secs(5) {
            std::hint::black_box((0..10_000u64).map(std::hint::black_box).sum::<u64>());
        }
        assert!(own_cpu_seconds() > start);
        let (_, rss) = cpu_ticks_and_rss(Watched::Group(stat.pgrp));
        assert!(rss >= stat.rss_pages * page_size());
    }
}

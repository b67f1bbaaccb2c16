//! A one-line progress bar on stderr while a level runs.

use crate::record::RequestRecord;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const WIDTH: u64 = 30;
const REDRAW_MS: u64 = 200;

/// Shared by the request tasks of a level; draws at most every 200 ms, and only when enabled
/// (not `--quiet`, and stderr is a terminal).
pub struct Progress {
    enabled: bool,
    label: String,
    total: u64,
    started: Instant,
    done: AtomicU64,
    failed: AtomicU64,
    last_draw_ms: AtomicU64,
}

impl Progress {
    pub fn new(quiet: bool, label: String, total: usize) -> Self {
        Self {
            enabled: !quiet && std::io::stderr().is_terminal(),
            label,
            total: total as u64,
            started: Instant::now(),
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_draw_ms: AtomicU64::new(0),
        }
    }

    pub fn record(&self, r: &RequestRecord) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if !r.ok() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        if !self.enabled {
            return;
        }
        let now_ms = self.started.elapsed().as_millis() as u64;
        let last = self.last_draw_ms.load(Ordering::Relaxed);
        if now_ms >= last + REDRAW_MS
            && self
                .last_draw_ms
                .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.draw();
        }
    }

    /// Draws the final state and ends the line.
    pub fn finish(&self) {
        if self.enabled {
            self.draw();
            eprintln!();
        }
    }

    fn draw(&self) {
        let done = self.done.load(Ordering::Relaxed);
        let filled = (done * WIDTH).checked_div(self.total).unwrap_or(WIDTH);
        let bar: String = (0..WIDTH)
            .map(|i| if i < filled { '#' } else { '.' })
            .collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{} [{bar}] {done}/{} failed {} {:.1}s",
            self.label,
            self.total,
            self.failed.load(Ordering::Relaxed),
            self.started.elapsed().as_secs_f64()
        );
        let _ = err.flush();
    }
}

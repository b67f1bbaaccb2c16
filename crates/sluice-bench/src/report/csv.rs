//! `results.csv`: one row per run and level, every summary number in its own column.

use crate::results::{LevelResult, RunResult};
use crate::stats::Distribution;
use crate::summary::sources_label;
use std::fmt::Write;

const DIST_COLUMNS: [&str; 4] = ["ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"];

pub fn render(runs: &[RunResult]) -> String {
    let mut header: Vec<String> = [
        "engine",
        "settings",
        "api",
        "load_kind",
        "load",
        "requests",
        "completed",
        "failed",
        "duration_s",
        "request_throughput",
        "output_throughput",
        "total_token_throughput",
        "input_tokens",
        "output_tokens",
        "goodput",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for d in DIST_COLUMNS {
        for stat in ["mean", "p50", "p90", "p99"] {
            header.push(format!("{d}_{stat}"));
        }
    }
    header.extend(
        [
            "errors",
            "output_token_source",
            "input_token_source",
            "client_cpu_s",
            "server_cpu_percent_mean",
            "server_rss_mib_max",
            "gpu_util_percent_mean",
            "gpu_mem_mib_max",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    let mut out = header.join(",");
    out.push('\n');
    for run in runs {
        for level in &run.levels {
            out.push_str(&row(run, level).join(","));
            out.push('\n');
        }
    }
    out
}

fn row(run: &RunResult, l: &LevelResult) -> Vec<String> {
    let s = &l.summary;
    let settings: Vec<String> = run
        .settings
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut cells = vec![
        field(&run.engine),
        field(&settings.join(";")),
        run.api.name().to_string(),
        l.load.kind().to_string(),
        l.load.value().to_string(),
        s.requests.to_string(),
        s.completed.to_string(),
        s.failed.to_string(),
        num(Some(s.duration_s)),
        num(Some(s.request_throughput)),
        num(Some(s.output_throughput)),
        num(Some(s.total_token_throughput)),
        s.input_tokens.to_string(),
        s.output_tokens.to_string(),
        num(s.goodput),
    ];
    for d in [s.ttft_ms, s.tpot_ms, s.itl_ms, s.e2e_ms] {
        let pick = |f: fn(&Distribution) -> f64| num(d.as_ref().map(f));
        cells.extend([
            pick(|d| d.mean),
            pick(|d| d.p50),
            pick(|d| d.p90),
            pick(|d| d.p99),
        ]);
    }
    let errors: Vec<String> = s.errors.iter().map(|(k, n)| format!("{k}={n}")).collect();
    let u = &l.server_usage;
    cells.extend([
        field(&errors.join(";")),
        sources_label(&s.output_token_sources),
        sources_label(&s.input_token_sources),
        num(Some(l.client_cpu_s)),
        num(u.cpu_percent_mean),
        num(u.rss_mib_max),
        num(u.gpu_util_percent_mean),
        num(u.gpu_mem_mib_max),
    ]);
    cells
}

fn num(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| {
        let mut s = String::new();
        let _ = write!(s, "{v:.4}");
        s
    })
}

/// RFC 4180 quoting where needed.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

//! `report.md`: the comparison table, latency details, resources, and how tokens were counted.

use crate::results::{BenchResults, LevelResult, RunResult};
use crate::stats::Distribution;
use crate::summary::sources_label;
use std::fmt::Write;

/// The report for `sources` (one per results directory) and their runs, side by side.
pub fn render(sources: &[BenchResults], runs: &[RunResult], plots: &[String]) -> String {
    let mut s = String::from("# sluice bench report\n\n");
    for b in sources {
        let _ = writeln!(
            s,
            "- sluice {} on {}; command: `{}`",
            b.sluice_version,
            b.machine.describe(),
            b.command_line.join(" ")
        );
    }
    s.push_str("\n## Throughput\n\n");
    table(
        &mut s,
        &[
            "engine",
            "settings",
            "load",
            "ok/sent",
            "time (s)",
            "req/s",
            "out tok/s",
            "total tok/s",
            "TTFT p50 (ms)",
            "TTFT p99 (ms)",
            "TPOT p50 (ms)",
            "goodput (req/s)",
            "errors",
        ],
        rows(runs, |run, l| {
            let m = &l.summary;
            vec![
                run.engine.clone(),
                settings(run),
                l.load.to_string(),
                format!("{}/{}", m.completed, m.requests),
                f(m.duration_s, 2),
                f(m.request_throughput, 2),
                f(m.output_throughput, 1),
                f(m.total_token_throughput, 1),
                pick(m.ttft_ms, |d| d.p50),
                pick(m.ttft_ms, |d| d.p99),
                pick(m.tpot_ms, |d| d.p50),
                m.goodput.map_or("-".into(), |g| f(g, 2)),
                errors(l),
            ]
        }),
    );
    s.push_str("\n## Latency (ms): mean / p50 / p90 / p99\n\n");
    table(
        &mut s,
        &["run", "load", "TTFT", "TPOT", "ITL", "end-to-end"],
        rows(runs, |run, l| {
            let m = &l.summary;
            vec![
                run.label(),
                l.load.to_string(),
                dist(m.ttft_ms),
                dist(m.tpot_ms),
                dist(m.itl_ms),
                dist(m.e2e_ms),
            ]
        }),
    );
    s.push_str("\n## Resources and token counts\n\n");
    table(
        &mut s,
        &[
            "run",
            "load",
            "server CPU % (mean/max)",
            "server RSS max (MiB)",
            "GPU util %",
            "GPU mem (MiB)",
            "bench CPU %",
            "output tokens",
            "prompt tokens",
        ],
        rows(runs, |run, l| {
            let u = &l.server_usage;
            let m = &l.summary;
            vec![
                run.label(),
                l.load.to_string(),
                format!(
                    "{} / {}",
                    opt(u.cpu_percent_mean, 0),
                    opt(u.cpu_percent_max, 0)
                ),
                opt(u.rss_mib_max, 0),
                opt(u.gpu_util_percent_mean, 0),
                opt(u.gpu_mem_mib_max, 0),
                f(100.0 * l.client_cpu_s / m.duration_s.max(1e-9), 1),
                format!(
                    "{} ({})",
                    m.output_tokens,
                    sources_label(&m.output_token_sources)
                ),
                format!(
                    "{} ({})",
                    m.input_tokens,
                    sources_label(&m.input_token_sources)
                ),
            ]
        }),
    );
    notes(&mut s, runs);
    if !plots.is_empty() {
        s.push_str("\n## Plots\n\n");
        for p in plots {
            let _ = writeln!(s, "![{p}](plots/{p})");
        }
    }
    s
}

fn notes(s: &mut String, runs: &[RunResult]) {
    s.push_str(concat!(
        "\nTime is from the first request sent to the last response finished. TPOT is ",
        "(end-to-end - TTFT) / (output tokens - 1); ITL is the gap between token-carrying stream ",
        "events. Token counts: `server` = reported by the server (TGI details / x-prompt-tokens, ",
        "OpenAI usage); `stream_events` = one per streamed event with text (undercounts when an ",
        "event carries several tokens); `server_tokenizer` = prompts counted before the run by the ",
        "server's own tokenizer (POST /tokenize); `estimate` = the random dataset's requested prompt length, ",
        "otherwise one token per 4 bytes of text. CPU % is of one core.\n"
    ));
    for run in runs {
        let b = &run.bench;
        let _ = write!(
            s,
            "\n- **{}**: {} API at {}, dataset {}, {} prompts, max new tokens {}, {}{}",
            run.label(),
            run.api.name(),
            run.url,
            b.dataset,
            b.num_prompts,
            b.max_new_tokens,
            if b.streaming() {
                "streamed"
            } else {
                "not streamed"
            },
            if b.ignore_eos { ", ignore_eos" } else { "" },
        );
        if let Some(e) = &run.error {
            let _ = write!(s, ". **Stopped early:** {e}");
        }
        for l in &run.levels {
            if l.summary.retried > 0 {
                let _ = write!(
                    s,
                    "\n  - {}: {} requests were sent again after their kept-alive connection closed before a response",
                    l.load, l.summary.retried
                );
            }
            for (kind, msg) in &l.summary.error_examples {
                let _ = write!(s, "\n  - {} {kind}: {msg}", l.load);
            }
        }
    }
    s.push('\n');
}

fn rows(
    runs: &[RunResult],
    cells: impl Fn(&RunResult, &LevelResult) -> Vec<String>,
) -> Vec<Vec<String>> {
    runs.iter()
        .flat_map(|r| r.levels.iter().map(move |l| (r, l)))
        .map(|(r, l)| cells(r, l))
        .collect()
}

fn table(s: &mut String, header: &[&str], rows: Vec<Vec<String>>) {
    let _ = writeln!(s, "| {} |", header.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(header.len()));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
}

fn settings(run: &RunResult) -> String {
    if run.settings.is_empty() {
        return "-".into();
    }
    let kv: Vec<String> = run
        .settings
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    kv.join(" ")
}

fn errors(l: &LevelResult) -> String {
    if l.summary.errors.is_empty() {
        return "0".into();
    }
    let kv: Vec<String> = l
        .summary
        .errors
        .iter()
        .map(|(k, n)| format!("{k}: {n}"))
        .collect();
    kv.join(", ")
}

fn f(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or("-".into(), |v| f(v, decimals))
}

fn pick(d: Option<Distribution>, stat: fn(&Distribution) -> f64) -> String {
    opt(d.as_ref().map(stat), 1)
}

fn dist(d: Option<Distribution>) -> String {
    d.map_or("-".into(), |d| {
        format!("{:.1} / {:.1} / {:.1} / {:.1}", d.mean, d.p50, d.p90, d.p99)
    })
}

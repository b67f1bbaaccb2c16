//! `DIR/report.md` (the recommendation first, as a command line to paste, then every
//! candidate best first) and `DIR/results.json` (every run).

use super::plots;
use super::search::{Search, SearchConfig, Stage, Trial};
use super::space::describe;
use anyhow::{Context, Result};
use serde_json::json;
use std::fmt::Write;
use std::path::Path;

/// Writes both files; `command_of(candidate)` is the command line that starts it.
pub fn write(
    out: &Path,
    config: &SearchConfig,
    search: &Search,
    command_of: impl Fn(usize) -> String,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let results = json!({
        "config": {
            "levels": config.levels,
            "num_prompts": config.num_prompts,
            "budget_s": config.budget_s,
            "slo_ttft_p99_ms": config.ttft_p99_ms,
            "slo_tpot_p99_ms": config.tpot_p99_ms,
        },
        "search": search,
        "recommendation": search.recommendation(config).map(|(c, t)| json!({
            "candidate": c,
            "command": command_of(c),
            "concurrency": search.trials[t].concurrency,
        })),
    });
    let json_path = out.join("results.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    let plots_dir = out.join("plots");
    std::fs::create_dir_all(&plots_dir)
        .with_context(|| format!("cannot create {}", plots_dir.display()))?;
    let charts = plots::charts(search);
    for (name, chart) in &charts {
        std::fs::write(plots_dir.join(name), chart.render())?;
    }
    let mut md = markdown(config, search, &command_of);
    if !charts.is_empty() {
        md.push_str("\n## Plots\n\n");
        for (name, chart) in &charts {
            md.push_str(&format!("![{}](plots/{name})\n\n", chart.title));
        }
    }
    let md_path = out.join("report.md");
    std::fs::write(&md_path, md).with_context(|| format!("cannot write {}", md_path.display()))
}

fn markdown(
    config: &SearchConfig,
    search: &Search,
    command_of: &impl Fn(usize) -> String,
) -> String {
    let mut md = String::from("# sluice tune\n\n");
    let slo = match (config.ttft_p99_ms, config.tpot_p99_ms) {
        (None, None) => "no SLO".to_string(),
        (ttft, tpot) => [("TTFT", ttft), ("TPOT", tpot)]
            .iter()
            .filter_map(|(name, v)| v.map(|v| format!("{name} p99 ≤ {v} ms")))
            .collect::<Vec<_>>()
            .join(", "),
    };
    match search.recommendation(config) {
        Some((c, t)) => {
            let m = search.trials[t]
                .measured
                .as_ref()
                .expect("recommended runs are measured");
            let _ = writeln!(md, "## Recommendation\n\n```sh\n{}\n```\n", command_of(c));
            let _ = writeln!(
                md,
                "Measured at **{} concurrent clients** ({} requests): {:.1} output tok/s, goodput {:.2} req/s, TTFT p50/p99 {}/{} ms, TPOT p50/p99 {}/{} ms; {slo}.\n",
                search.trials[t].concurrency,
                m.requests,
                m.output_tok_s,
                m.goodput,
                ms(m.ttft_p50_ms),
                ms(m.ttft_p99_ms),
                ms(m.tpot_p50_ms),
                ms(m.tpot_p99_ms),
            );
        }
        None => {
            let _ = writeln!(md, "## Recommendation\n\nNo setting met the SLOs ({slo}) at any level measured; the table shows how close each came.\n");
        }
    }
    let _ = writeln!(
        md,
        "Search: {} candidates, {} runs, {:.0} s of a {:.0} s budget{}{}.\n",
        search.candidates.len(),
        search.trials.len(),
        search.spent_s,
        config.budget_s,
        search
            .stopped
            .as_ref()
            .map_or(String::new(), |why| format!("; stopped early: {why}")),
        search.noise.map_or(String::new(), |n| format!(
            "; a repeated run differed by {:.1}%, the noise the ranking allows for",
            n * 100.0
        )),
    );
    md.push_str("## Candidates, best first\n\n| # | settings | best run | clients | requests | time (s) | output tok/s | goodput (req/s; mean of repeats) | TTFT p50/p99 (ms) | TPOT p50/p99 (ms) | peak RSS (MiB) | errors |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    let ranked = search.ranking(config);
    for (rank, &(c, t)) in ranked.iter().enumerate() {
        let trial = &search.trials[t];
        let m = trial.measured.as_ref().expect("ranked runs are measured");
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.2} | {}/{} | {}/{} | {} | {} |",
            rank + 1,
            describe(&search.candidates[c]),
            stage(trial),
            trial.concurrency,
            m.requests,
            m.duration_s,
            m.output_tok_s,
            search.goodput(t),
            ms(m.ttft_p50_ms),
            ms(m.ttft_p99_ms),
            ms(m.tpot_p50_ms),
            ms(m.tpot_p99_ms),
            m.peak_rss_mib.map_or("–".into(), |v| format!("{v:.0}")),
            m.errors,
        );
    }
    for (c, candidate) in search.candidates.iter().enumerate() {
        if ranked.iter().any(|&(r, _)| r == c) {
            continue;
        }
        let why = match search.trials.iter().rfind(|t| t.candidate == c) {
            Some(t) => format!("failed: {}", t.error.clone().unwrap_or_default()),
            None => format!(
                "not run: the search stopped ({})",
                search.stopped.as_deref().unwrap_or("finished")
            ),
        };
        let _ = writeln!(
            md,
            "| – | {} | {} | | | | | | | | | |",
            describe(candidate),
            why.replace('|', "/")
        );
    }
    md.push_str("\n## Every run\n\n| settings | stage | clients | requests | cost (s) | output tok/s | goodput (req/s) | TTFT p99 (ms) | TPOT p99 (ms) | meets SLO |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for trial in &search.trials {
        let settings = describe(&search.candidates[trial.candidate]);
        match &trial.measured {
            Some(m) => {
                let _ = writeln!(
                    md,
                    "| {settings} | {} | {} | {} | {:.1} | {:.1} | {:.2} | {} | {} | {} |",
                    stage(trial),
                    trial.concurrency,
                    trial.requests,
                    trial.cost_s,
                    m.output_tok_s,
                    m.goodput,
                    ms(m.ttft_p99_ms),
                    ms(m.tpot_p99_ms),
                    if config.meets_slo(m) { "yes" } else { "no" },
                );
            }
            None => {
                let _ = writeln!(
                    md,
                    "| {settings} | {} | {} | {} | {:.1} | failed: {} | | | | |",
                    stage(trial),
                    trial.concurrency,
                    trial.requests,
                    trial.cost_s,
                    trial.error.clone().unwrap_or_default().replace('|', "/")
                );
            }
        }
    }
    md
}

fn stage(trial: &Trial) -> String {
    match trial.stage {
        Stage::Screen(rung) => format!("screen {rung}"),
        Stage::Final => "final".into(),
        Stage::Repeat => "repeat".into(),
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.0}"))
}

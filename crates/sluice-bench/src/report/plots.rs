//! Which charts a report has: throughput and TTFT p99 against load for every run, latency
//! percentiles per run, and throughput against each numeric setting that was swept.

use super::svg::{Chart, Series};
use crate::results::{LevelResult, RunResult};
use std::collections::{BTreeMap, BTreeSet};

/// `(file name, chart)` pairs.
pub fn charts(runs: &[RunResult]) -> Vec<(String, Chart)> {
    let Some(x_label) = runs
        .iter()
        .flat_map(|r| r.levels.first())
        .map(|l| l.load.axis_name().to_string())
        .next()
    else {
        return Vec::new();
    };
    let per_run = |metric: &dyn Fn(&LevelResult) -> Option<f64>| -> Vec<Series> {
        runs.iter()
            .map(|r| Series {
                name: r.label(),
                points: points(&r.levels, metric),
            })
            .collect()
    };
    let mut out = vec![
        (
            "throughput.svg".to_string(),
            Chart {
                title: "Output throughput".into(),
                x_label: x_label.clone(),
                y_label: "output tokens/s".into(),
                series: per_run(&|l| Some(l.summary.output_throughput)),
            },
        ),
        (
            "ttft_p99.svg".to_string(),
            Chart {
                title: "Time to first token, p99".into(),
                x_label: x_label.clone(),
                y_label: "TTFT p99 (ms)".into(),
                series: per_run(&|l| l.summary.ttft_ms.map(|d| d.p99)),
            },
        ),
    ];
    for run in runs {
        out.push((
            format!("latency-{}.svg", run.slug()),
            latency_chart(run, &x_label),
        ));
    }
    for key in swept_numeric_settings(runs) {
        out.push((format!("setting-{key}.svg"), setting_chart(runs, &key)));
    }
    out
}

fn points(levels: &[LevelResult], metric: &dyn Fn(&LevelResult) -> Option<f64>) -> Vec<(f64, f64)> {
    levels
        .iter()
        .filter_map(|l| Some((l.load.value(), metric(l)?)))
        .collect()
}

fn latency_chart(run: &RunResult, x_label: &str) -> Chart {
    type Pick = fn(&LevelResult) -> Option<f64>;
    let lines: [(&str, Pick); 5] = [
        ("TTFT p50", |l| l.summary.ttft_ms.map(|d| d.p50)),
        ("TTFT p99", |l| l.summary.ttft_ms.map(|d| d.p99)),
        ("E2E p50", |l| l.summary.e2e_ms.map(|d| d.p50)),
        ("E2E p90", |l| l.summary.e2e_ms.map(|d| d.p90)),
        ("E2E p99", |l| l.summary.e2e_ms.map(|d| d.p99)),
    ];
    Chart {
        title: format!("Latency percentiles: {}", run.label()),
        x_label: x_label.to_string(),
        y_label: "latency (ms)".into(),
        series: lines
            .iter()
            .map(|(name, pick)| Series {
                name: name.to_string(),
                points: points(&run.levels, pick),
            })
            .collect(),
    }
}

/// Settings with two or more distinct values that all read as numbers.
fn swept_numeric_settings(runs: &[RunResult]) -> Vec<String> {
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in runs {
        for (k, v) in &r.settings {
            values.entry(k).or_default().insert(v);
        }
    }
    values
        .into_iter()
        .filter(|(_, vs)| vs.len() > 1 && vs.iter().all(|v| v.parse::<f64>().is_ok()))
        .map(|(k, _)| k.to_string())
        .collect()
}

/// Output tokens/s against the setting's value: one line per engine, other settings and load.
fn setting_chart(runs: &[RunResult], key: &str) -> Chart {
    let mut lines: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for r in runs {
        let Some(x) = r.settings.get(key).and_then(|v| v.parse::<f64>().ok()) else {
            continue;
        };
        let others: String = r
            .settings
            .iter()
            .filter(|(k, _)| k.as_str() != key)
            .map(|(k, v)| format!(" {k}={v}"))
            .collect();
        for l in &r.levels {
            let name = format!("{}{others} {}", r.engine, l.load);
            lines
                .entry(name)
                .or_default()
                .push((x, l.summary.output_throughput));
        }
    }
    Chart {
        title: format!("Output throughput against {key}"),
        x_label: key.to_string(),
        y_label: "output tokens/s".into(),
        series: lines
            .into_iter()
            .map(|(name, mut points)| {
                points.sort_by(|a, b| a.0.total_cmp(&b.0));
                Series { name, points }
            })
            .collect(),
    }
}

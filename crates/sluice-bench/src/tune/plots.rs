//! The report's charts: each finalist's goodput against client concurrency, and the best
//! goodput screened against each numeric setting that was varied.

use super::search::{Search, Stage};
use super::space::describe;
use crate::report::svg::{Chart, Series};
use std::collections::BTreeMap;

/// `(file name, chart)` pairs.
pub fn charts(search: &Search) -> Vec<(String, Chart)> {
    let mut out = Vec::new();
    // Finalists: mean goodput per level.
    let mut per_candidate: BTreeMap<usize, BTreeMap<u32, Vec<f64>>> = BTreeMap::new();
    for trial in search
        .trials
        .iter()
        .filter(|t| !matches!(t.stage, Stage::Screen(_)))
    {
        if let Some(m) = &trial.measured {
            per_candidate
                .entry(trial.candidate)
                .or_default()
                .entry(trial.concurrency)
                .or_default()
                .push(m.goodput);
        }
    }
    if !per_candidate.is_empty() {
        let series = per_candidate
            .into_iter()
            .map(|(c, levels)| Series {
                name: describe(&search.candidates[c]),
                points: levels
                    .into_iter()
                    .map(|(level, g)| (f64::from(level), g.iter().sum::<f64>() / g.len() as f64))
                    .collect(),
            })
            .collect();
        out.push((
            "goodput_vs_concurrency.svg".to_string(),
            Chart {
                title: "Goodput of the finalists".into(),
                x_label: "concurrent clients".into(),
                y_label: "goodput (requests/s)".into(),
                series,
            },
        ));
    }
    // Screening: the best goodput among the candidates with each value of a setting.
    let names: Vec<&String> = search
        .candidates
        .first()
        .map(|c| c.keys().collect())
        .unwrap_or_default();
    for name in names {
        let mut best: BTreeMap<String, f64> = BTreeMap::new();
        for trial in search.trials.iter().filter(|t| t.stage == Stage::Screen(0)) {
            if let (Some(m), Some(value)) = (
                &trial.measured,
                search.candidates[trial.candidate].get(name),
            ) {
                let slot = best.entry(value.clone()).or_insert(0.0);
                *slot = slot.max(m.goodput);
            }
        }
        let points: Option<Vec<(f64, f64)>> = best
            .iter()
            .map(|(value, g)| value.parse::<f64>().ok().map(|x| (x, *g)))
            .collect();
        let Some(mut points) = points.filter(|p| p.len() > 1) else {
            continue;
        };
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        out.push((
            format!("goodput_vs_{name}.svg"),
            Chart {
                title: format!("Best screened goodput by {name}"),
                x_label: name.clone(),
                y_label: "goodput (requests/s)".into(),
                series: vec![Series {
                    name: "best candidate".into(),
                    points,
                }],
            },
        ));
    }
    out
}

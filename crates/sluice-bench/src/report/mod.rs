//! Writes a results directory: `results.json`, `results.csv`, `report.md` and `plots/*.svg`;
//! and re-renders reports from saved results, several runs side by side.

mod csv;
mod markdown;
mod plots;
pub(crate) mod svg;

use crate::results::{BenchResults, RunResult};
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

pub use svg::{Chart, Series};

/// Saves `results` and every view of it under `dir`.
pub fn write_all(dir: &Path, results: &BenchResults) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = serde_json::to_string_pretty(results).context("cannot serialise results")?;
    write(&dir.join("results.json"), &json)?;
    write_views(dir, std::slice::from_ref(results), &results.runs)
}

/// `sluice bench report DIR... [--out OUT]`: one report over the runs of every directory. With
/// one directory and no `--out`, that directory's report is rewritten in place.
pub fn combine(dirs: &[PathBuf], out: Option<&Path>) -> Result<PathBuf> {
    let out = match (out, dirs) {
        (Some(o), _) => o.to_path_buf(),
        (None, [one]) => one.clone(),
        (None, _) => bail!("several result directories need --out DIR for the combined report"),
    };
    let sources: Vec<BenchResults> = dirs
        .iter()
        .map(|d| BenchResults::read(d))
        .collect::<Result<_>>()?;
    let mut runs: Vec<RunResult> = Vec::new();
    let mut seen = HashSet::new();
    for (dir, b) in dirs.iter().zip(&sources) {
        for run in &b.runs {
            let mut run = run.clone();
            if !seen.insert(run.label()) {
                // Same engine and settings in two directories: tell them apart by directory.
                let name = dir.file_name().map_or(dir.display().to_string(), |n| {
                    n.to_string_lossy().into_owned()
                });
                run.engine = format!("{name}/{}", run.engine);
                seen.insert(run.label());
            }
            runs.push(run);
        }
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    write_views(&out, &sources, &runs)?;
    Ok(out)
}

fn write_views(dir: &Path, sources: &[BenchResults], runs: &[RunResult]) -> Result<()> {
    write(&dir.join("results.csv"), &csv::render(runs))?;
    let plot_dir = dir.join("plots");
    std::fs::create_dir_all(&plot_dir)
        .with_context(|| format!("cannot create {}", plot_dir.display()))?;
    let mut names = Vec::new();
    for (name, chart) in plots::charts(runs) {
        write(&plot_dir.join(&name), &chart.render())?;
        names.push(name);
    }
    write(
        &dir.join("report.md"),
        &markdown::render(sources, runs, &names),
    )
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

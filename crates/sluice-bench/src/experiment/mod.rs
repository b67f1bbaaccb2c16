//! Experiment files (TOML): which servers to start, with which settings, and how to bench
//! them. See docs/benchmarking.md for the format; `bench/experiments/` has examples.

mod process;
mod runner;
mod template;

use crate::api::ApiKind;
use crate::settings::SweepSettings;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

pub use process::ServerProcess;
pub use runner::run;
pub use template::substitute;

/// A grid: setting name to the values to try.
pub type Grid = BTreeMap<String, Vec<toml::Value>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Sweep settings for every engine: the flags of `sluice bench`, with `_` for `-`.
    #[serde(default)]
    pub bench: SweepSettings,
    /// Settings to try, for every engine whose command uses them.
    #[serde(default)]
    pub grid: Grid,
    #[serde(rename = "engine")]
    pub engines: Vec<Engine>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Engine {
    /// Name in reports.
    pub name: String,
    /// Shell command that starts the server in the foreground, with `{setting}` placeholders
    /// and `{port}`.
    pub command: String,
    /// Base URL the bench sends requests to, e.g. `http://127.0.0.1:{port}`.
    pub url: String,
    /// Polled until it answers 2xx; default: `url` + `/health`.
    pub health_url: Option<String>,
    pub api: ApiKind,
    /// Extra environment variables for the command; values may hold placeholders.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// This engine's grid, replacing the top-level one.
    pub grid: Option<Grid>,
    /// Port for `{port}`; default: a free port picked by the runner.
    pub port: Option<u16>,
    /// Seconds to wait for health before giving up.
    #[serde(default = "default_startup_timeout")]
    pub startup_timeout: f64,
    /// Seconds between SIGTERM and SIGKILL when stopping.
    #[serde(default = "default_stop_grace")]
    pub stop_grace: f64,
}

fn default_startup_timeout() -> f64 {
    600.0
}

fn default_stop_grace() -> f64 {
    10.0
}

/// One server launch: an engine with one combination of its grid's values.
#[derive(Debug, Clone)]
pub struct Plan {
    pub engine: usize,
    /// Grid values this launch uses (only the settings its command, URL or env mention).
    pub settings: BTreeMap<String, String>,
    pub bench: SweepSettings,
}

impl Experiment {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read experiment {}", path.display()))?;
        let exp: Experiment = toml::from_str(&text).map_err(|e| {
            let msg = e.message().to_string();
            let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
            match line {
                Some(l) => anyhow::anyhow!("{}:{l}: {msg}", path.display()),
                None => anyhow::anyhow!("{}: {msg}", path.display()),
            }
        })?;
        if exp.engines.is_empty() {
            bail!("{}: no [[engine]] entries", path.display());
        }
        Ok(exp)
    }

    /// Every launch, engine by engine, grid values in order. A grid key that an engine's
    /// command, URLs and env never mention is not swept for it; `concurrency` in a grid sets
    /// the sweep's levels instead of starting servers.
    pub fn plans(&self) -> Result<Vec<Plan>> {
        let mut plans = Vec::new();
        for (i, engine) in self.engines.iter().enumerate() {
            let grid = engine.grid.as_ref().unwrap_or(&self.grid);
            let mut bench = self.bench.clone();
            if let Some(levels) = grid.get("concurrency") {
                bench.concurrency = levels
                    .iter()
                    .map(|v| v.as_integer().and_then(|n| u32::try_from(n).ok()))
                    .collect::<Option<_>>()
                    .with_context(|| {
                        format!(
                            "engine {}: concurrency values must be positive integers",
                            engine.name
                        )
                    })?;
            }
            bench
                .validate(engine.api)
                .with_context(|| format!("engine {}", engine.name))?;
            let used = engine.placeholders();
            let mut combos = vec![BTreeMap::new()];
            for (key, values) in grid.iter().filter(|(k, _)| used.contains(&k.as_str())) {
                if values.is_empty() {
                    bail!("engine {}: grid value list for {key} is empty", engine.name);
                }
                let rendered: Vec<String> = values
                    .iter()
                    .map(|v| render(v).with_context(|| format!("grid {key}")))
                    .collect::<Result<_>>()?;
                combos = combos
                    .into_iter()
                    .flat_map(|c| {
                        rendered.iter().map(move |v| {
                            let mut c = c.clone();
                            c.insert(key.clone(), v.clone());
                            c
                        })
                    })
                    .collect();
            }
            plans.extend(combos.into_iter().map(|settings| Plan {
                engine: i,
                settings,
                bench: bench.clone(),
            }));
        }
        Ok(plans)
    }
}

impl Engine {
    fn placeholders(&self) -> Vec<&str> {
        let mut names = template::placeholders(&self.command);
        names.extend(template::placeholders(&self.url));
        if let Some(h) = &self.health_url {
            names.extend(template::placeholders(h));
        }
        for v in self.env.values() {
            names.extend(template::placeholders(v));
        }
        names
    }
}

/// A grid value as it goes into a command: strings as they are, numbers and booleans as TOML
/// writes them.
fn render(v: &toml::Value) -> Result<String> {
    Ok(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(x) => x.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        other => bail!(
            "values must be strings, numbers or booleans, not {}",
            other.type_str()
        ),
    })
}

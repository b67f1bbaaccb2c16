//! `results.json`: everything a run measured, in a versioned schema that `sluice bench report`
//! reads back.

use crate::api::ApiKind;
use crate::load::Load;
use crate::machine::Machine;
use crate::monitor::ResourceUsage;
use crate::record::RequestRecord;
use crate::settings::SweepSettings;
use crate::summary::LevelSummary;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Bumped on any change that old readers would misread. Readers accept this version and older.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchResults {
    pub schema_version: u32,
    pub sluice_version: String,
    /// Seconds since the Unix epoch when the results were written.
    pub created_unix_s: u64,
    pub command_line: Vec<String>,
    pub machine: Machine,
    pub runs: Vec<RunResult>,
}

/// One server (an engine with one combination of settings) and its sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    /// Engine name: `--label`, the experiment's engine name, or the server's model id.
    pub engine: String,
    /// Server settings of this run (experiment grid values such as `speculate = 2`).
    pub settings: BTreeMap<String, String>,
    pub url: String,
    pub api: ApiKind,
    pub bench: SweepSettings,
    /// The server's `/info` (TGI) or `/v1/models` (OpenAI) answer, when it gave one.
    pub server_info: Option<Value>,
    pub levels: Vec<LevelResult>,
    /// Why the run stopped early, if it did.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LevelResult {
    pub load: Load,
    pub summary: LevelSummary,
    /// CPU seconds the load generator itself used during the level.
    pub client_cpu_s: f64,
    pub server_usage: ResourceUsage,
    pub requests: Vec<RequestRecord>,
}

impl RunResult {
    pub fn new(engine: String, url: &str, api: ApiKind, bench: SweepSettings) -> Self {
        Self {
            engine,
            settings: BTreeMap::new(),
            url: url.to_string(),
            api,
            bench,
            server_info: None,
            levels: Vec::new(),
            error: None,
        }
    }

    /// `sluice speculate=2 quantize=int8`: the name of this run's series in tables and plots.
    pub fn label(&self) -> String {
        std::iter::once(self.engine.clone())
            .chain(self.settings.iter().map(|(k, v)| format!("{k}={v}")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The label in a form safe for file names (logs, plots).
    pub fn slug(&self) -> String {
        let s: String = self
            .label()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '=' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        s.trim_matches('_').to_string()
    }
}

impl BenchResults {
    pub fn new(runs: Vec<RunResult>) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            sluice_version: env!("CARGO_PKG_VERSION").to_string(),
            created_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            command_line: std::env::args().collect(),
            machine: Machine::detect(),
            runs,
        }
    }

    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("results.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let version: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        match version.get("schema_version").and_then(Value::as_u64) {
            Some(v) if v <= u64::from(SCHEMA_VERSION) => {}
            Some(v) => bail!(
                "{} has schema version {v}; this sluice reads up to {SCHEMA_VERSION}",
                path.display()
            ),
            None => bail!(
                "{} has no schema_version: not sluice bench results",
                path.display()
            ),
        }
        serde_json::from_value(version).with_context(|| format!("cannot read {}", path.display()))
    }

    /// Any run or level failed: the command's exit code says so.
    pub fn failure(&self) -> Option<String> {
        let mut problems: Vec<String> = Vec::new();
        for run in &self.runs {
            if let Some(e) = &run.error {
                problems.push(format!("{}: {e}", run.label()));
            }
            let failed: usize = run.levels.iter().map(|l| l.summary.failed).sum();
            if failed > 0 {
                problems.push(format!("{}: {failed} requests failed", run.label()));
            }
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }
}

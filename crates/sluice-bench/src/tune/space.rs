//! What `sluice tune` may vary: settings of `sluice serve`, each with the values to try.
//! The defaults suit the machine; `--space FILE.toml` narrows or widens them.

use super::UsageError;
use crate::experiment::Engine;
use std::collections::BTreeMap;
use std::path::Path;

/// One combination: serve flag (without `--`) to its value.
pub type Candidate = BTreeMap<String, String>;

/// Settings of `sluice serve` the search knows how to vary.
pub const KNOWN: &[&str] = &[
    "replicas",
    "threads",
    "max-batch-prefill-tokens",
    "max-running-requests",
    "max-batch-total-tokens",
    "kv-cache-memory",
    "kv-cache-dtype",
    "speculate",
    "draft-model",
    "quantize",
];

/// Setting to the values to try (a setting not here stays at serve's default), and other
/// engines to compare as fixed candidates.
#[derive(Clone, Debug)]
pub struct Space {
    pub settings: BTreeMap<String, Vec<String>>,
    /// `[[engine]]` tables, as experiment files write them (TGI, vLLM, llama-server...).
    pub engines: Vec<Engine>,
}

/// The key of a candidate that is another engine: its value is the engine's name.
pub const ENGINE: &str = "engine";

impl Space {
    /// The settings that mattered in the study `sluice tune` automates, sized to `cores`:
    /// replicas (each gets its share of the cores), the step's token budget, how many
    /// requests run at once, the KV cache's number type and speculation.
    pub fn default_for(cores: usize) -> Space {
        let replicas: Vec<usize> = [1, 2, 4]
            .into_iter()
            .filter(|&r| r <= cores.max(1))
            .collect();
        let mut settings = BTreeMap::new();
        let mut put = |name: &str, values: &[&str]| {
            settings.insert(
                name.to_string(),
                values.iter().map(|v| v.to_string()).collect(),
            );
        };
        put("max-batch-prefill-tokens", &["256", "512", "1024"]);
        put("max-running-requests", &["32", "128"]);
        put("kv-cache-dtype", &["f32", "f16"]);
        put("speculate", &["0", "2"]);
        settings.insert(
            "replicas".into(),
            replicas.iter().map(usize::to_string).collect(),
        );
        Space {
            settings,
            engines: Vec::new(),
        }
    }

    /// `base` changed by a space file: each `[space]` key replaces that setting's values
    /// (an empty list leaves the setting at serve's default), and keys must be known
    /// settings; each `[[engine]]` table (an experiment file's) adds an engine.
    pub fn load(path: &Path, base: Space) -> Result<Space, UsageError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| UsageError(format!("cannot read --space {}: {e}", path.display())))?;
        let file: toml::Table = text
            .parse()
            .map_err(|e| UsageError(format!("--space {}: {e}", path.display())))?;
        let mut space = base;
        for (key, value) in &file {
            if key == "engine" || key == "engines" {
                let engines: Vec<Engine> = value.clone().try_into().map_err(|e| {
                    UsageError(format!("--space {}: [[{key}]]: {e}", path.display()))
                })?;
                space.engines.extend(engines);
                continue;
            }
            if key != "space" {
                return Err(UsageError(format!(
                    "--space {}: unknown table `{key}` (expected [space] or [[engine]])",
                    path.display()
                )));
            }
            let table = value.as_table().ok_or_else(|| {
                UsageError(format!(
                    "--space {}: `space` must be a table",
                    path.display()
                ))
            })?;
            for (name, values) in table {
                if !KNOWN.contains(&name.as_str()) {
                    return Err(UsageError(format!(
                        "--space {}: unknown setting `{name}` (known: {})",
                        path.display(),
                        KNOWN.join(", ")
                    )));
                }
                let values = values
                    .as_array()
                    .ok_or_else(|| {
                        UsageError(format!(
                            "--space {}: `{name}` must be a list",
                            path.display()
                        ))
                    })?
                    .iter()
                    .map(|v| match v {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<String>>();
                if values.is_empty() {
                    space.settings.remove(name);
                } else {
                    space.settings.insert(name.clone(), values);
                }
            }
        }
        Ok(space)
    }

    /// Every combination of the settings' values, then each other engine.
    pub fn candidates(&self) -> Vec<Candidate> {
        let mut out = vec![Candidate::new()];
        for (name, values) in &self.settings {
            out = out
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.insert(name.clone(), v.clone());
                        c
                    })
                })
                .collect();
        }
        out.extend(
            self.engines
                .iter()
                .map(|e| Candidate::from([(ENGINE.to_string(), e.name.clone())])),
        );
        out
    }
}

/// A candidate as serve flags: `--name value` for each setting.
pub fn flags(candidate: &Candidate) -> Vec<String> {
    candidate
        .iter()
        .flat_map(|(name, value)| [format!("--{name}"), value.clone()])
        .collect()
}

/// A candidate in one line, for tables and logs.
pub fn describe(candidate: &Candidate) -> String {
    if candidate.is_empty() {
        return "(serve's defaults)".into();
    }
    candidate
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_space_fits_the_cores_and_spans_every_combination() {
        let two = Space::default_for(2);
        assert_eq!(two.settings["replicas"], ["1", "2"]);
        assert_eq!(two.candidates().len(), 2 * 3 * 2 * 2 * 2);
        assert_eq!(Space::default_for(1).settings["replicas"], ["1"]);
    }

    #[test]
    fn a_space_file_narrows_widens_and_refuses_unknown_settings() {
        let dir = std::env::temp_dir().join(format!("sluice-space-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("space.toml");
        std::fs::write(
            &file,
            "[space]\nspeculate = []\nmax-batch-prefill-tokens = [512]\nquantize = [\"q8_0\"]\n",
        )
        .unwrap();
        let space = Space::load(&file, Space::default_for(1)).unwrap();
        assert!(!space.settings.contains_key("speculate"));
        assert_eq!(space.settings["max-batch-prefill-tokens"], ["512"]);
        assert_eq!(space.settings["quantize"], ["q8_0"]);
        std::fs::write(
            &file,
            "[space]\nspeculate = []\n[[engine]]\nname = \"llama-server\"\n\
             command = \"llama-server --port {port}\"\nurl = \"http://127.0.0.1:{port}\"\napi = \"openai\"\n",
        )
        .unwrap();
        let space = Space::load(&file, Space::default_for(1)).unwrap();
        let candidates = space.candidates();
        assert_eq!(candidates.len(), 3 * 2 * 2 + 1);
        assert_eq!(candidates.last().unwrap()[ENGINE], "llama-server");
        std::fs::write(&file, "[space]\nbatch-size = [1]\n").unwrap();
        let err = Space::load(&file, Space::default_for(1)).unwrap_err();
        assert!(err.0.contains("unknown setting `batch-size`"), "{}", err.0);
    }
}

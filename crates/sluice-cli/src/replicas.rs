//! `sluice serve --replicas N`: N engine processes on loopback ports, each with its share of
//! the threads, behind the router on the public address (sluice-router's supervisor).

use crate::serve::ServeArgs;
use sluice_router::replicas::{self, ReplicaCommand, ReplicasConfig};

/// Flags the supervisor sets per replica, so they are taken out of the user's command line.
const PER_REPLICA: [&str; 4] = ["--replicas", "--hostname", "--port", "--threads"];

pub fn run(args: &ServeArgs) -> anyhow::Result<()> {
    let program = std::env::current_exe()?;
    // Everything after `serve`, as the user typed it, minus the per-replica flags. Each
    // replica also gets `--replicas 1`, which beats an inherited SLUICE_REPLICAS.
    let mut flags = vec!["serve".to_string()];
    flags.extend(strip(std::env::args().skip(2), &PER_REPLICA));
    flags.extend(["--replicas".to_string(), "1".to_string()]);
    let threads = args.engine.threads.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    });
    let mut config = ReplicasConfig::new(
        ReplicaCommand::serve(program, flags),
        args.replicas,
        threads,
    );
    // The replicas get the key with the rest of the flags; the router checks it first.
    config.router.api_key = args.api_key.as_deref().and_then(sluice_server::ApiKey::new);
    replicas::run(config, &format!("{}:{}", args.hostname, args.port))
}

/// `args` without the named flags and their values (`--flag value` or `--flag=value`).
fn strip(args: impl Iterator<Item = String>, flags: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if flags.contains(&arg.as_str()) {
            skip_value = true;
        } else if !flags.iter().any(|f| arg.starts_with(&format!("{f}="))) {
            out.push(arg);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_replica_flags_are_stripped_in_both_spellings() {
        let args =
            "--model-id m.gguf --port 9 --replicas=2 --threads 4 --max-best-of 3 --hostname=h"
                .split(' ')
                .map(String::from);
        assert_eq!(
            strip(args, &PER_REPLICA),
            ["--model-id", "m.gguf", "--max-best-of", "3"]
        );
    }
}

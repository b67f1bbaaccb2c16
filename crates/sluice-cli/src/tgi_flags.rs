//! TGI's launcher flags that `sluice serve` does not take as its own, so that a TGI command
//! line copied as it is either starts or says exactly which flag stops it: flags that change
//! nothing on a CPU are taken out with a one-line warning; the rest are refused by name.
//! (`--num-shard` and `--sharded` are real flags of `serve`, checked in `check_sharding`.)

use crate::serve::ServeArgs;

/// Flags that only tune GPU memory or kernels. Each takes a value unless listed in `SWITCHES`.
const NO_EFFECT_ON_CPU: &[&str] = &[
    "--cuda-memory-fraction",
    "--cuda-graphs",
    "--disable-custom-kernels",
];

/// TGI flags sluice does not implement.
const UNSUPPORTED: &[&str] = &[
    "--revision",
    "--validation-workers",
    "--trust-remote-code",
    "--waiting-served-ratio",
    "--max-waiting-tokens",
    "--max-batch-size",
    "--prometheus-port",
    "--shard-uds-path",
    "--master-addr",
    "--master-port",
    "--huggingface-hub-cache",
    "--weights-cache-override",
    "--rope-scaling",
    "--rope-factor",
    "--json-output",
    "--otlp-endpoint",
    "--otlp-service-name",
    "--cors-allow-origin",
    "--watermark-gamma",
    "--watermark-delta",
    "--ngrok",
    "--ngrok-authtoken",
    "--ngrok-edge",
    "--tokenizer-config-path",
    "--disable-grammar-support",
    "--env",
    "--max-client-batch-size",
    "--lora-adapters",
    "--usage-stats",
    "--enable-prefill-logprobs",
    "--graceful-termination-timeout",
];

/// Flags of the lists above that take no value.
const SWITCHES: &[&str] = &[
    "--disable-custom-kernels",
    "--trust-remote-code",
    "--json-output",
    "--ngrok",
    "--disable-grammar-support",
    "--env",
    "--enable-prefill-logprobs",
];

/// `sluice serve`'s command line without the flags that change nothing here, each reported
/// on stderr; an error naming the first unsupported TGI flag. Other commands pass unchanged.
pub fn screen(args: Vec<String>) -> Result<Vec<String>, String> {
    if args.get(1).map(String::as_str) != Some("serve") {
        return Ok(args);
    }
    let mut kept = Vec::with_capacity(args.len());
    let mut iter = args.into_iter().peekable();
    while let Some(arg) = iter.next() {
        let (name, inline_value) = match arg.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        if UNSUPPORTED.contains(&name.as_str()) {
            return Err(format!(
                "{name} is a TGI launcher flag that sluice does not implement; remove it (see `sluice serve --help`)"
            ));
        }
        if !NO_EFFECT_ON_CPU.contains(&name.as_str()) {
            kept.push(arg);
            continue;
        }
        let value = match (inline_value, SWITCHES.contains(&name.as_str())) {
            (Some(value), _) => Some(value),
            (None, false) => iter.next_if(|next| !next.starts_with("--")),
            (None, true) => None,
        };
        let shown = value.map_or(name.clone(), |v| format!("{name} {v}"));
        eprintln!("warning: {shown} changes nothing on a CPU; ignored");
    }
    Ok(kept)
}

/// TGI's sharding flags: one shard (the default) is what sluice runs; more are refused in
/// favour of --replicas, which the study this project started from found faster.
pub fn check_sharding(args: &ServeArgs) -> anyhow::Result<()> {
    let wanted = match (args.num_shard, args.sharded) {
        (n, _) if n > 1 => format!("--num-shard {n}"),
        (_, Some(true)) => "--sharded true".to_string(),
        (0, _) => anyhow::bail!("--num-shard must be at least 1"),
        _ => {
            if args.sharded == Some(false) {
                tracing::warn!("--sharded false is what sluice always does; ignored");
            }
            return Ok(());
        }
    };
    anyhow::bail!(
        "{wanted}: sluice does not shard a model across devices; run one engine per core group behind a router with --replicas N instead"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(line: &str) -> Vec<String> {
        line.split(' ').map(String::from).collect()
    }

    #[test]
    fn cpu_neutral_flags_are_taken_out_in_both_spellings() {
        let out = screen(argv(
            "sluice serve --cuda-memory-fraction 0.9 --port 9 --disable-custom-kernels --cuda-graphs=1,2 --speculate 2",
        ))
        .unwrap();
        assert_eq!(out, argv("sluice serve --port 9 --speculate 2"));
    }

    #[test]
    fn unsupported_flags_are_refused_by_name() {
        let err = screen(argv("sluice serve --port 9 --revision=main")).unwrap_err();
        assert!(
            err.starts_with("--revision is a TGI launcher flag"),
            "{err}"
        );
        assert!(screen(argv("sluice serve --trust-remote-code")).is_err());
    }

    #[test]
    fn other_commands_pass_unchanged() {
        let args = argv("sluice bench --revision x");
        assert_eq!(screen(args.clone()).unwrap(), args);
    }
}

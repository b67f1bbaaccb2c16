//! `sluice bench` against a live `sluice serve`: the sweep completes with server-reported token
//! counts, and an experiment file starts, measures and stops sluice servers by itself.

mod common;
use common::*;
use serde_json::Value;
use sluice_testing::{write_tiny_llama, TinyLlama};
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmpdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bench(args: &[&str]) {
    let out = Command::new(BIN)
        .arg("bench")
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sluice bench {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn results(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn bench_sweeps_a_live_sluice_serve_with_server_token_counts() {
    let server = Server::start(&[]);
    let dir = tmpdir("live");
    for (api, extra) in [
        ("tgi", vec![]),
        ("openai", vec!["--ignore-eos", "--no-stream"]),
    ] {
        let out = dir.join(api);
        let mut args = vec![
            "--url",
            &server.url,
            "--api",
            api,
            "--dataset",
            "builtin",
            "--num-prompts",
            "6",
            "--max-new-tokens",
            "8",
            "--concurrency",
            "1,3",
            "--quiet",
            "--out",
        ];
        let out_str = out.to_string_lossy().into_owned();
        args.push(&out_str);
        args.extend(extra.iter().copied());
        bench(&args);
        let r = results(&out);
        let levels = r["runs"][0]["levels"].as_array().unwrap();
        assert_eq!(levels.len(), 2, "{api}");
        for level in levels {
            let s = &level["summary"];
            assert_eq!(
                (s["completed"].as_u64(), s["failed"].as_u64()),
                (Some(6), Some(0)),
                "{api}: {s}"
            );
            assert_eq!(s["output_token_sources"]["server"], 6, "{api}: {s}");
            let tokens = s["output_tokens"].as_u64().unwrap();
            if api == "openai" {
                assert_eq!(
                    tokens, 48,
                    "ignore_eos makes every request generate 8 tokens"
                );
            } else {
                assert!((6..=48).contains(&tokens), "{s}");
            }
        }
        assert!(std::fs::read_to_string(out.join("report.md"))
            .unwrap()
            .contains("smollm2-135m"));
    }
    server.assert_no_kv_leak();
}

#[test]
fn bench_run_starts_measures_and_stops_each_server() {
    let dir = tmpdir("experiment");
    let model = dir.join("tiny.gguf");
    write_tiny_llama(&model, &TinyLlama::default()).unwrap();
    let prompts = dir.join("prompts.jsonl");
    std::fs::write(
        &prompts,
        "{\"prompt\": \"abc\"}\n{\"prompt\": \"hello there\", \"max_new_tokens\": 3}\n",
    )
    .unwrap();
    let experiment = format!(
        r#"
[bench]
dataset = "{prompts}"
num_prompts = 4
max_new_tokens = 4
concurrency = [2]

[grid]
max_batch_prefill_tokens = [8, 512]

[[engine]]
name = "sluice-tiny"
command = "exec {bin} serve --model-id {model} --hostname 127.0.0.1 --port {{port}} --max-batch-prefill-tokens {{max_batch_prefill_tokens}}"
url = "http://127.0.0.1:{{port}}"
api = "tgi"
"#,
        prompts = prompts.display(),
        bin = BIN,
        model = model.display(),
    );
    let file = dir.join("experiment.toml");
    std::fs::write(&file, experiment).unwrap();
    let out = dir.join("out");
    bench(&[
        "run",
        &file.to_string_lossy(),
        "--out",
        &out.to_string_lossy(),
    ]);
    let r = results(&out);
    let runs = r["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "one run per grid value");
    for run in runs {
        let s = &run["levels"][0]["summary"];
        assert_eq!(s["completed"], 4, "{s}");
        assert!(
            run["settings"]["max_batch_prefill_tokens"].is_string(),
            "{run}"
        );
    }
    // Every server it started is gone.
    let left = Command::new("pgrep")
        .args(["-f", &model.to_string_lossy()])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "servers left running: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

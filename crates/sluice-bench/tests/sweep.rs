//! `sluice bench --url ...` against the stub server: both APIs, streamed and not, token
//! counting, failures of every kind, and the files a run writes.

mod support;

use clap::Parser;
use sluice_bench::record::TokenSource;
use sluice_bench::results::BenchResults;
use sluice_bench::{run_async, BenchArgs};
use std::path::Path;
use std::time::Duration;
use support::stub;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    bench: BenchArgs,
}

async fn bench(args: &[&str]) -> anyhow::Result<()> {
    let cli = Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied()))?;
    run_async(cli.bench).await
}

fn jsonl(dir: &Path, prompts: &[(&str, u32)]) -> String {
    let path = dir.join("prompts.jsonl");
    let lines: Vec<String> = prompts
        .iter()
        .map(|(p, n)| serde_json::json!({"prompt": p, "max_new_tokens": n}).to_string())
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tgi_streamed_sweep_counts_server_tokens_and_writes_every_file() {
    let url = stub::start(Duration::from_millis(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let data = jsonl(dir.path(), &[("one two three", 5), ("four five", 7)]);
    bench(&[
        "--url",
        &url,
        "--api",
        "tgi",
        "--dataset",
        &data,
        "--num-prompts",
        "6",
        "--concurrency",
        "1,3",
        "--warmup",
        "1",
        "--quiet",
        "--slo-ttft",
        "10000",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .unwrap();

    let r = BenchResults::read(&out).unwrap();
    assert_eq!(r.runs.len(), 1);
    let run = &r.runs[0];
    assert_eq!(run.engine, "stub-model", "named after the server's /info");
    assert_eq!(run.levels.len(), 2);
    for level in &run.levels {
        let s = &level.summary;
        assert_eq!((s.requests, s.completed, s.failed), (6, 6, 0));
        assert_eq!(s.output_tokens, 3 * (5 + 7));
        // TGI streams report no prompt length: 13 and 9 bytes of text estimate 4 and 3 tokens.
        assert_eq!(s.input_tokens, 3 * (4 + 3));
        assert_eq!(s.input_token_sources[&TokenSource::Estimate], 6);
        assert_eq!(s.output_token_sources[&TokenSource::Server], 6);
        assert_eq!(s.ttft_ms.unwrap().count, 6);
        assert_eq!(s.itl_ms.unwrap().count, 3 * (4 + 6));
        assert_eq!(s.goodput, Some(s.request_throughput));
        assert_eq!(level.requests.len(), 6);
    }
    for file in [
        "results.json",
        "results.csv",
        "report.md",
        "plots/throughput.svg",
        "plots/ttft_p99.svg",
    ] {
        assert!(out.join(file).exists(), "{file}");
    }
    assert!(!r.machine.cpu_model.is_empty());
    assert_eq!(r.sluice_version, env!("CARGO_PKG_VERSION"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_without_usage_counts_stream_events_and_estimates_prompts() {
    let url = stub::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let data = jsonl(dir.path(), &[("NOUSAGE abcdefgh", 9)]);
    for api in ["openai", "openai-chat"] {
        let out = dir.path().join(api);
        bench(&[
            "--url",
            &url,
            "--api",
            api,
            "--dataset",
            &data,
            "--num-prompts",
            "4",
            "--concurrency",
            "2",
            "--quiet",
            "--ignore-eos",
            "--out",
            out.to_str().unwrap(),
        ])
        .await
        .unwrap();
        let s = &BenchResults::read(&out).unwrap().runs[0].levels[0].summary;
        assert_eq!(s.output_tokens, 4 * 9, "{api}");
        assert_eq!(s.output_token_sources[&TokenSource::StreamEvents], 4);
        assert_eq!(s.input_token_sources[&TokenSource::Estimate], 4);
        assert_eq!(s.input_tokens, 4 * 4, "16 bytes / 4");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unstreamed_requests_have_no_ttft() {
    let url = stub::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let data = jsonl(dir.path(), &[("a b c", 4), ("NOUSAGE d", 8)]);
    for api in ["tgi", "openai-chat"] {
        let out = dir.path().join(api);
        bench(&[
            "--url",
            &url,
            "--api",
            api,
            "--dataset",
            &data,
            "--num-prompts",
            "2",
            "--concurrency",
            "1",
            "--no-stream",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .await
        .unwrap();
        let s = &BenchResults::read(&out).unwrap().runs[0].levels[0].summary;
        assert_eq!(s.completed, 2, "{api}");
        assert_eq!(
            s.output_tokens, 12,
            "{api}: 4 reported + 8 estimated from 32 bytes"
        );
        assert_eq!(s.output_token_sources[&TokenSource::Server], 1);
        assert_eq!(s.output_token_sources[&TokenSource::Estimate], 1);
        assert!(s.ttft_ms.is_none() && s.tpot_ms.is_none());
        assert!(s.e2e_ms.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_counted_by_kind_and_fail_the_run() {
    let url = stub::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let data = jsonl(
        dir.path(),
        &[
            ("fine", 3),
            ("FAIL500", 3),
            ("HANG", 3),
            ("DROP", 5),
            ("ERRORTOKEN", 5),
            ("CUT", 3),
        ],
    );
    for api in ["tgi", "openai"] {
        let err = bench(&[
            "--url",
            &url,
            "--api",
            api,
            "--dataset",
            &data,
            "--num-prompts",
            "6",
            "--concurrency",
            "6",
            "--warmup",
            "0",
            "--timeout",
            "0.5",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("5 requests failed"),
            "{api}: {err}"
        );
        let s = &BenchResults::read(&out).unwrap().runs[0].levels[0].summary;
        let kinds: Vec<(&str, u64)> = s.errors.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        assert_eq!(
            kinds,
            [
                ("http_500", 1),
                ("incomplete", 2),
                ("server_error", 1),
                ("timeout", 1)
            ],
            "{api}"
        );
        assert_eq!(s.completed, 1);
        assert!(s.error_examples["server_error"].contains("injected error event"));
        assert!(s.error_examples["http_500"].contains("injected failure"));
        let report = std::fs::read_to_string(out.join("report.md")).unwrap();
        assert!(report.contains("http_500: 1"));
    }
}

#[tokio::test]
async fn unreachable_server_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let err = bench(&[
        "--url",
        &url,
        "--quiet",
        "--out",
        dir.path().to_str().unwrap(),
    ])
    .await
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.starts_with(&format!("cannot connect to {url}")),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_only_answers_errors_stops_the_sweep() {
    let url = stub::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let data = jsonl(dir.path(), &[("FAIL500", 3)]);
    let err = bench(&[
        "--url",
        &url,
        "--dataset",
        &data,
        "--num-prompts",
        "2",
        "--concurrency",
        "1,2",
        "--warmup",
        "0",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("every request at c=1 failed (http_500"),
        "{err:#}"
    );
    let r = BenchResults::read(&out).unwrap();
    assert_eq!(r.runs[0].levels.len(), 1, "partial results are written");
    assert!(r.runs[0].error.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poisson_rate_and_random_dataset() {
    let url = stub::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    bench(&[
        "--url",
        &url,
        "--api",
        "openai",
        "--dataset",
        "random",
        "--random-input-len",
        "20",
        "--random-output-len",
        "6",
        "--num-prompts",
        "10",
        "--request-rate",
        "200,400",
        "--seed",
        "3",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ])
    .await
    .unwrap();
    let r = BenchResults::read(&out).unwrap();
    let levels = &r.runs[0].levels;
    assert_eq!(levels.len(), 2);
    assert_eq!(levels[0].summary.output_tokens, 60);
    assert_eq!(levels[0].summary.input_tokens, 200, "the stub counts words");
    let starts: Vec<f64> = levels[0].requests.iter().map(|r| r.start_s).collect();
    assert!(
        starts.iter().any(|&s| s > 0.0),
        "requests are spread over time"
    );
}

#[tokio::test]
async fn bad_arguments_fail_before_any_request() {
    let err = bench(&[
        "--url",
        "http://127.0.0.1:9",
        "--api",
        "tgi",
        "--ignore-eos",
    ])
    .await
    .unwrap_err();
    assert!(err
        .to_string()
        .contains("--ignore-eos is not supported by the TGI API"));
    let err = bench(&[
        "--url",
        "http://127.0.0.1:9",
        "--dataset",
        "/nonexistent.jsonl",
    ])
    .await
    .unwrap_err();
    assert!(
        format!("{err:#}").starts_with("cannot read dataset /nonexistent.jsonl"),
        "{err:#}"
    );
}

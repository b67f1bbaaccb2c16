//! `sluice bench run`: real child processes are started, swept and stopped, also when they
//! fail to start, never become healthy, or ignore SIGTERM. The "server" processes are shell
//! commands that record their pid; requests go to the in-process stub.

mod support;

use sluice_bench::experiment::{Experiment, ServerProcess};
use sluice_bench::results::BenchResults;
use sluice_bench::{run_async, BenchArgs, BenchCommand, RunArgs, SweepArgs};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use support::stub;

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(pid, 0) == 0 }
}

fn pids(file: &Path) -> Vec<i32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

async fn run_experiment(dir: &Path, toml: &str) -> anyhow::Result<BenchResults> {
    let file = dir.join("exp.toml");
    std::fs::write(&file, toml).unwrap();
    let out = dir.join("out");
    let args = BenchArgs {
        command: Some(BenchCommand::Run(RunArgs {
            experiment: file,
            out: out.clone(),
            quiet: true,
        })),
        sweep: no_sweep(),
    };
    let result = run_async(args).await;
    let saved = BenchResults::read(&out).expect("results are written in every case");
    result.map(|()| saved)
}

fn no_sweep() -> SweepArgs {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sweep: SweepArgs,
    }
    Cli::parse_from(["x", "--url", "http://unused"]).sweep
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grid_launches_each_setting_and_stops_every_server() {
    let url = stub::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let toml = format!(
        r#"
[bench]
dataset = "random"
random_input_len = 8
random_output_len = 4
num_prompts = 3
concurrency = [1, 2]
warmup = 0

[grid]
speculate = [0, 2]
unused = ["x", "y"]

[[engine]]
name = "fake"
command = "echo $$ >> {pids}; echo speculate={{speculate}} port={{port}}; exec sleep 300"
url = "{url}"
health_url = "{url}/health"
api = "tgi"
env = {{ SPEC = "{{speculate}}" }}
"#,
        pids = pidfile.display()
    );
    let r = run_experiment(dir.path(), &toml).await.unwrap();
    let labels: Vec<String> = r.runs.iter().map(|r| r.label()).collect();
    assert_eq!(
        labels,
        ["fake speculate=0", "fake speculate=2"],
        "unused grid keys are not swept"
    );
    assert!(r
        .runs
        .iter()
        .all(|r| r.levels.len() == 2 && r.error.is_none()));
    let started = pids(&pidfile);
    assert_eq!(started.len(), 2);
    assert!(started.iter().all(|&p| !alive(p)), "servers are stopped");
    let log = std::fs::read_to_string(dir.path().join("out/logs/fake_speculate=2.log")).unwrap();
    assert!(log.starts_with("speculate=2 port="), "{log}");
    let usage = &r.runs[0].levels[0].server_usage;
    assert!(usage.samples == 0 || usage.rss_mib_max.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_engines_are_reported_and_the_rest_still_runs() {
    let url = stub::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pids");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = format!(
        r#"
[bench]
num_prompts = 2
concurrency = [1]
warmup = 0

[[engine]]
name = "crashes"
command = "echo failing to load the model >&2; exit 3"
# A closed port: were it the live stub, the first probe could beat the exit.
url = "http://127.0.0.1:{closed}"
api = "tgi"

[[engine]]
name = "never-healthy"
command = "echo $$ >> {pids}; exec sleep 300"
url = "http://127.0.0.1:{closed}"
api = "tgi"
startup_timeout = 1

[[engine]]
name = "works"
command = "sleep 300"
url = "{url}"
api = "openai"
"#,
        pids = pidfile.display()
    );
    let err = run_experiment(dir.path(), &toml).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("crashes: crashes exited (exit status: 3) before becoming healthy; last log lines: failing to load the model"), "{msg}");
    assert!(
        msg.contains("never-healthy: never-healthy did not become healthy"),
        "{msg}"
    );
    let r = BenchResults::read(&dir.path().join("out")).unwrap();
    assert_eq!(r.runs.len(), 3);
    assert_eq!(r.runs[2].levels.len(), 1, "the healthy engine still ran");
    assert!(r.runs[2].error.is_none());
    assert!(pids(&pidfile).iter().all(|&p| !alive(p)));
}

#[test]
fn a_server_ignoring_sigterm_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let cmd = format!(
        "trap '' TERM; echo $$ > {}; while true; do sleep 0.05; done",
        pidfile.display()
    );
    let mut server = ServerProcess::spawn(
        "stubborn",
        &cmd,
        &BTreeMap::new(),
        &dir.path().join("log"),
        Duration::from_millis(300),
    )
    .unwrap();
    while pids(&pidfile).is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = pids(&pidfile)[0];
    assert_eq!(pid as u32, server.pgid());
    server.stop();
    assert!(!alive(pid));
    // Dropping a server that was never stopped stops it too.
    let cmd = format!("echo $$ > {}; exec sleep 300", pidfile.display());
    std::fs::remove_file(&pidfile).unwrap();
    let server = ServerProcess::spawn(
        "dropped",
        &cmd,
        &BTreeMap::new(),
        &dir.path().join("log2"),
        Duration::from_secs(5),
    )
    .unwrap();
    while pids(&pidfile).is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(server);
    assert!(!alive(pids(&pidfile)[0]));
}

#[test]
fn bad_experiment_files_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    let check = |text: &str, want: &str| {
        std::fs::write(&file, text).unwrap();
        let err = Experiment::load(&file).and_then(|e| e.plans()).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(want), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    };
    let engine = "[[engine]]\nname = \"e\"\ncommand = \"x\"\nurl = \"http://h\"\napi = \"tgi\"\n";
    check(
        &format!("{engine}colour = 1\n"),
        "bad.toml:6: unknown field `colour`",
    );
    check(
        "[bench]\nnum_prompt = 3\n",
        "bad.toml:2: unknown field `num_prompt`",
    );
    check("[[engine]]\nname = \"e\"\n", "missing field `command`");
    check("[grid]\nx = [1]\n", "missing field `engine`");
    check(
        &format!("[bench]\nignore_eos = true\n{engine}"),
        "engine e: --ignore-eos is not supported",
    );
    check(
        &engine
            .replace("\"x\"", "\"run {a}\"")
            .replace("[[engine]]", "[grid]\na = [[1]]\n[[engine]]"),
        "grid a: values must be strings",
    );
}

#[test]
fn shipped_experiment_files_parse_and_expand() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/experiments");
    let mut counts = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let plans = Experiment::load(&path).and_then(|e| e.plans()).unwrap();
        counts.insert(
            path.file_name().unwrap().to_string_lossy().into_owned(),
            plans.len(),
        );
    }
    let want = [
        ("cpu-sluice-vs-llama-server.toml", 2),
        ("hf-folder.toml", 5),
        ("llama-server.toml", 2),
        ("replicas.toml", 2),
        ("sluice-kv-cache-dtype.toml", 2),
        ("sluice-step-budget.toml", 5),
        ("sluice.toml", 2),
        ("speculation-builtin.toml", 14),
        ("speculation-repeating.toml", 14),
        ("tgi.toml", 5),
        ("vllm.toml", 2),
    ];
    assert_eq!(
        counts,
        want.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    );
}

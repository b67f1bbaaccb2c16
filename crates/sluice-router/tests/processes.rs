//! Tests with real replica processes: a replica killed under load, and the replicas supervisor.
//!
//! `harness = false`: this binary is also the stub replica program. Run as
//! `processes stub-replica --port P ...` it serves the stub on 127.0.0.1:P until killed;
//! run without arguments it runs the tests below.

mod common;

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use sluice_router::policy::PolicyKind;
use sluice_router::replicas::{self, ReplicaCommand, ReplicasConfig};
use sluice_router::RouterConfig;
use std::collections::BTreeSet;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Notify};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    if args.get(1).map(String::as_str) == Some("stub-replica") {
        let port = args
            .windows(2)
            .find(|w| w[0] == "--port")
            .map(|w| w[1].clone())
            .expect("stub-replica needs --port");
        runtime.block_on(serve_stub_replica(&port));
        return;
    }
    run_test(
        "a_replica_killed_under_load_loses_no_request",
        &runtime,
        a_replica_killed_under_load_loses_no_request,
    );
    run_test(
        "replicas_serve_on_one_port_restart_and_stop_cleanly",
        &runtime,
        replicas_serve_on_one_port_restart_and_stop_cleanly,
    );
}

fn run_test<F: std::future::Future<Output = ()>>(
    name: &str,
    runtime: &tokio::runtime::Runtime,
    test: fn() -> F,
) {
    println!("test {name} ...");
    runtime.block_on(test());
    println!("test {name} ... ok");
}

/// The stub, answering /generate after 20 ms so requests overlap.
async fn serve_stub_replica(port: &str) {
    let listener = TcpListener::bind(format!("127.0.0.1:{port}"))
        .await
        .unwrap();
    let Stub { state, .. } = stub("process").await;
    state.delay_ms.store(20, Ordering::Relaxed);
    axum::serve(listener, stub_app(state)).await.unwrap();
}

fn me() -> std::path::PathBuf {
    std::env::current_exe().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn pid_of(body: &str) -> u32 {
    json(body)["pid"].as_u64().unwrap() as u32
}

fn is_gone(pid: u32) -> bool {
    kill(Pid::from_raw(pid as i32), None).is_err()
}

/// Kills a child process when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn a_replica_killed_under_load_loses_no_request() {
    let ports = [free_port(), free_port(), free_port()];
    let mut children: Vec<Reaped> = ports
        .iter()
        .map(|p| {
            Reaped(
                Command::new(me())
                    .args(["stub-replica", "--port", &p.to_string()])
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    for url in &urls {
        assert!(
            eventually(|| async {
                client()
                    .get(format!("{url}/health").parse().unwrap())
                    .await
                    .is_ok()
            })
            .await
        );
    }
    // Health checks far apart: the router has to find the dead replica through requests.
    let mut config =
        RouterConfig::with_upstreams(urls.iter().map(|u| u.parse().unwrap()).collect());
    config.policy.kind = PolicyKind::RoundRobin;
    config.health_check_interval = Duration::from_secs(3600);
    let r = router(config).await;

    let done = Arc::new(AtomicUsize::new(0));
    let thirty_done = Arc::new(Notify::new());
    let gate = Arc::new(tokio::sync::Semaphore::new(10));
    let mut requests = Vec::new();
    for i in 0..100 {
        let (url, done, thirty_done, gate) = (
            r.url.clone(),
            done.clone(),
            thirty_done.clone(),
            gate.clone(),
        );
        requests.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            let answer = post(
                &format!("{url}/generate"),
                &format!(r#"{{"inputs":"request {i}"}}"#),
            )
            .await;
            if done.fetch_add(1, Ordering::SeqCst) + 1 == 30 {
                thirty_done.notify_one();
            }
            answer
        }));
    }
    thirty_done.notified().await;
    // Requests are in flight on every replica now: kill the first one.
    let mut victim = children.remove(0);
    victim.0.kill().unwrap();
    victim.0.wait().unwrap();

    let mut ok = 0;
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
        ok += 1;
    }
    assert_eq!(ok, 100);
    let dead = replica_info(&r.url, &urls[0]).await;
    assert!(dead["errors"].as_u64().unwrap() >= 1, "{dead}");
    assert_eq!(dead["healthy"], false, "{dead}");
    let (_, metrics) = send("GET", &format!("{}/metrics", r.url), "").await;
    assert!(
        !metrics.contains(&format!(
            "sluice_router_errors_total{{replica=\"{}\"}} 0",
            urls[0]
        )),
        "{metrics}"
    );
}

async fn replicas_serve_on_one_port_restart_and_stop_cleanly() {
    let command = ReplicaCommand {
        program: me(),
        args: ["stub-replica", "--port", "{port}", "--threads", "{threads}"]
            .map(String::from)
            .to_vec(),
    };
    let mut config = ReplicasConfig::new(command, 2, 2);
    config.router.policy.kind = PolicyKind::RoundRobin;
    config.router.health_check_interval = Duration::from_millis(100);
    config.ready_timeout = Duration::from_secs(60);
    config.grace = Duration::from_secs(5);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(replicas::serve(config, listener, async {
        let _ = stopped.await;
    }));

    assert!(
        eventually(|| async {
            client()
                .get(format!("{url}/health").parse().unwrap())
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await
    );
    let mut pids = BTreeSet::new();
    for _ in 0..4 {
        let (status, body) = post(&format!("{url}/generate"), "{}").await;
        assert_eq!(status, 200, "{body}");
        pids.insert(pid_of(&body));
    }
    assert_eq!(pids.len(), 2, "two replicas behind one port");

    let killed = *pids.iter().next().unwrap();
    kill(Pid::from_raw(killed as i32), Signal::SIGKILL).unwrap();
    let restarted = eventually(|| async {
        let (status, body) = post(&format!("{url}/generate"), "{}").await;
        status == 200 && !pids.contains(&pid_of(&body))
    })
    .await;
    assert!(restarted, "the killed replica came back as a new process");
    let mut all_pids = pids.clone();
    for _ in 0..4 {
        let (_, body) = post(&format!("{url}/generate"), "{}").await;
        all_pids.insert(pid_of(&body));
    }
    assert_eq!(all_pids.len(), 3);

    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
    for pid in all_pids {
        assert!(is_gone(pid), "replica {pid} outlived the supervisor");
    }
}

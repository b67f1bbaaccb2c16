//! A `sluice serve` process on 127.0.0.1 for the end-to-end tests, and small HTTP helpers.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sluice");

pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// Starts `sluice serve` on an ephemeral port (the default model unless `args` name one)
    /// and waits until /health answers. The first run may fetch the model.
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--hostname", "127.0.0.1", "--port", "0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting sluice serve");
        let address = read_address(&mut child);
        let server = Server {
            child,
            url: format!("http://{address}"),
        };
        server.wait_healthy();
        server
    }

    /// Starts `sluice serve --replicas N ...` listening on `port`.
    pub fn start_replicas(port: u16, args: &[&str]) -> Server {
        let child = Command::new(BIN)
            .args([
                "serve",
                "--hostname",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting sluice serve --replicas");
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        server.wait_healthy();
        server
    }

    fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(300);
        while Instant::now() < deadline {
            if let Ok(r) = reqwest::blocking::get(format!("{}/health", self.url)) {
                if r.status() == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("server at {} never became healthy", self.url);
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sluice serve did not exit within {limit:?}");
    }

    pub fn metrics(&self) -> String {
        get_text(&format!("{}/metrics", self.url))
    }

    /// The value of an unlabelled metric.
    pub fn metric(&self, name: &str) -> f64 {
        let text = self.metrics();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not in:\n{text}"))
            .trim()
            .parse()
            .unwrap()
    }

    /// Polls until the engine holds no sequence and every cache block is free again.
    pub fn assert_no_kv_leak(&self) {
        for _ in 0..300 {
            if self.metric("sluice_kv_cache_sequences") == 0.0
                && self.metric("sluice_kv_cache_usage_ratio") == 0.0
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("KV blocks still in use:\n{}", self.metrics());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads the server's log until it names its address; keeps draining the log afterwards.
fn read_address(child: &mut Child) -> String {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("address=").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(300))
        .expect("sluice serve never logged its address")
}

pub fn get_text(url: &str) -> String {
    reqwest::blocking::get(url).unwrap().text().unwrap()
}

/// POSTs JSON; returns the status and the body as JSON.
pub fn post(url: &str, body: impl Into<reqwest::blocking::Body>) -> (u16, serde_json::Value) {
    send(reqwest::blocking::Client::new().post(url).body(body), None)
}

/// POSTs JSON with `Authorization: Bearer KEY`.
pub fn post_with_key(
    url: &str,
    body: impl Into<reqwest::blocking::Body>,
    key: &str,
) -> (u16, serde_json::Value) {
    send(
        reqwest::blocking::Client::new().post(url).body(body),
        Some(key),
    )
}

/// GETs with `Authorization: Bearer KEY` when given; returns the status and the body as JSON.
pub fn get_with_key(url: &str, key: Option<&str>) -> (u16, serde_json::Value) {
    send(reqwest::blocking::Client::new().get(url), key)
}

fn send(request: reqwest::blocking::RequestBuilder, key: Option<&str>) -> (u16, serde_json::Value) {
    let request = match key {
        Some(key) => request.bearer_auth(key),
        None => request,
    };
    let resp = request
        .header("content-type", "application/json")
        .timeout(Duration::from_secs(300))
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// An open server-sent-event stream, read one `data:` payload at a time.
pub struct Events {
    lines: std::io::Lines<BufReader<reqwest::blocking::Response>>,
}

impl Events {
    pub fn open(url: &str, body: serde_json::Value) -> Events {
        let resp = reqwest::blocking::Client::new()
            .post(url)
            .json(&body)
            .timeout(Duration::from_secs(300))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        Events {
            lines: BufReader::new(resp).lines(),
        }
    }

    pub fn next_data(&mut self) -> Option<serde_json::Value> {
        for line in self.lines.by_ref() {
            if let Some(data) = line.ok()?.strip_prefix("data:") {
                return serde_json::from_str(data.trim()).ok();
            }
        }
        None
    }
}

/// A TCP port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

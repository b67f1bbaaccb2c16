//! A Hugging Face folder as a user gives it to `sluice`: `generate` and `serve` take the
//! folder's path as `--model-id`, and `--dtype` and `--quantize` say how its weights are held.

mod common;
use common::*;
use serde_json::{json, Value};
use sluice_testing::{write_tiny_hf, TinyHf, TinyLlama};
use std::process::Command;

fn tiny_folder(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("sluice-cli-hf-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    write_tiny_hf(&dir, &TinyLlama::default().in_f32(), TinyHf::default()).unwrap();
    dir.to_string_lossy().into_owned()
}

#[test]
fn generate_runs_a_folder() {
    let folder = tiny_folder("generate");
    let out = Command::new(BIN)
        .args(["generate", "--model-id", &folder, "--prompt", "the cat"])
        .args(["--max-new-tokens", "5", "--ignore-eos"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("decode: 4 tokens"));
}

#[test]
fn serve_holds_a_folders_weights_as_asked() {
    let folder = tiny_folder("serve");
    for (flags, held) in [
        (&[][..], "f32"),
        (&["--dtype", "bfloat16"][..], "bf16"),
        (&["--quantize", "q4_1"][..], "q4_1"),
        (&["--quantize", "eetq"][..], "int8"),
    ] {
        let mut args = vec!["--model-id", folder.as_str()];
        args.extend_from_slice(flags);
        let server = Server::start(&args);
        let info: Value = serde_json::from_str(&get_text(&format!("{}/info", server.url))).unwrap();
        assert_eq!(info["quantize"], held, "{flags:?}: {info}");
        assert_eq!(info["architecture"], "llama");
        let body = json!({"inputs": "the cat", "parameters": {"max_new_tokens": 3}});
        let (status, reply) = post(&format!("{}/generate", server.url), body.to_string());
        assert_eq!(status, 200, "{flags:?}: {reply}");
        let chat = json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3});
        let (status, reply) = post(
            &format!("{}/v1/chat/completions", server.url),
            chat.to_string(),
        );
        assert_eq!(status, 200, "{flags:?}: {reply}");
        server.assert_no_kv_leak();
    }
}

#[test]
fn replicas_each_hold_the_folder_as_asked() {
    let folder = tiny_folder("replicas");
    let port = free_port();
    let mut server = Server::start_replicas(
        port,
        &[
            "--model-id",
            &folder,
            "--quantize",
            "q4_1",
            "--replicas",
            "2",
        ],
    );
    let info: Value = serde_json::from_str(&get_text(&format!("{}/info", server.url))).unwrap();
    let replicas = info["replicas"].as_array().expect("a router's /info");
    assert_eq!(replicas.len(), 2, "{info}");
    for replica in replicas {
        let url = replica["url"].as_str().unwrap();
        let own: Value = serde_json::from_str(&get_text(&format!("{url}/info"))).unwrap();
        assert_eq!(own["quantize"], "q4_1", "{own}");
    }
    let body = json!({"inputs": "the cat", "parameters": {"max_new_tokens": 3}});
    let (status, reply) = post(&format!("{}/generate", server.url), body.to_string());
    assert_eq!(status, 200, "{reply}");
    server.signal("TERM");
    assert!(server
        .wait_exit(std::time::Duration::from_secs(60))
        .success());
}

//! Prompt lengths counted by the server's own tokenizer, before the run, for servers that do
//! not report prompt tokens per request (TGI's stream, for one). Every engine sluice benches
//! has a `/tokenize` route, each with its own shape, so the request names the text in all three
//! spellings and the answer is read in all three:
//! TGI and sluice `{"inputs"}` → `[{id, ...}]`; vLLM `{"prompt"}` → `{"count"}`;
//! llama-server `{"content"}` → `{"tokens": [...]}`.

use crate::api::ApiKind;
use serde_json::{json, Value};
use std::time::Duration;

/// The token count of each prompt, or `None` when the server cannot count them (no
/// `/tokenize`, or an answer in no known shape). Chat prompts are not counted: the server
/// renders them with its chat template first, so the message text alone would undercount.
pub async fn count(url: &str, api: ApiKind, prompts: &[&str]) -> Option<Vec<u64>> {
    if matches!(api, ApiKind::OpenaiChat) {
        return None;
    }
    let http = reqwest::Client::new();
    let endpoint = format!("{}/tokenize", url.trim_end_matches('/'));
    let mut counts = Vec::with_capacity(prompts.len());
    for prompt in prompts {
        let body = json!({"inputs": prompt, "prompt": prompt, "content": prompt});
        let resp = http
            .post(&endpoint)
            .header("content-type", "application/json")
            .body(body.to_string())
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .ok()?;
        if !resp.status().is_success() {
            return None;
        }
        let answer: Value = serde_json::from_slice(&resp.bytes().await.ok()?).ok()?;
        counts.push(read_count(&answer)?);
    }
    Some(counts)
}

fn read_count(answer: &Value) -> Option<u64> {
    if let Some(tokens) = answer.as_array() {
        return Some(tokens.len() as u64);
    }
    if let Some(n) = answer.get("count").and_then(Value::as_u64) {
        return Some(n);
    }
    answer
        .get("tokens")
        .and_then(Value::as_array)
        .map(|t| t.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_engines_answer() {
        assert_eq!(read_count(&json!([{"id": 1}, {"id": 2}])), Some(2));
        assert_eq!(read_count(&json!({"count": 7, "tokens": [1]})), Some(7));
        assert_eq!(read_count(&json!({"tokens": [1, 2, 3]})), Some(3));
        assert_eq!(read_count(&json!({"error": "no"})), None);
    }
}

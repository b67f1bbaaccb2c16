//! The prompt a request carries, as text to route on. Bodies that are not JSON, or carry no
//! prompt, give `None`: the replica, not the router, answers malformed requests.

use serde_json::Value;

/// TGI's `inputs`, OpenAI completions' `prompt` (a string, or the first of a list), or chat
/// `messages` flattened to `role\ncontent\n` per message (text parts only), so that chats
/// sharing a system prompt and early turns share a prefix.
pub fn routing_text(body: &[u8]) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    if let Some(inputs) = json.get("inputs").and_then(Value::as_str) {
        return Some(inputs.to_string());
    }
    match json.get("prompt") {
        Some(Value::String(p)) => return Some(p.clone()),
        Some(Value::Array(ps)) => return ps.first().and_then(Value::as_str).map(str::to_string),
        _ => {}
    }
    let messages = json.get("messages")?.as_array()?;
    let mut text = String::new();
    for message in messages {
        text.push_str(message.get("role").and_then(Value::as_str).unwrap_or(""));
        text.push('\n');
        match message.get("content") {
            Some(Value::String(s)) => text.push_str(s),
            Some(Value::Array(parts)) => parts
                .iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .for_each(|t| text.push_str(t)),
            _ => {}
        }
        text.push('\n');
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(body: &str) -> Option<String> {
        routing_text(body.as_bytes())
    }

    #[test]
    fn reads_tgi_and_openai_prompts() {
        assert_eq!(
            text(r#"{"inputs":"Hi","parameters":{}}"#).as_deref(),
            Some("Hi")
        );
        assert_eq!(
            text(r#"{"model":"m","prompt":"Hey"}"#).as_deref(),
            Some("Hey")
        );
        assert_eq!(text(r#"{"prompt":["one","two"]}"#).as_deref(), Some("one"));
        let chat = r#"{"messages":[{"role":"system","content":"Be brief."},
            {"role":"user","content":[{"type":"text","text":"Hi"},{"type":"image_url"}]}]}"#;
        assert_eq!(text(chat).as_deref(), Some("system\nBe brief.\nuser\nHi\n"));
    }

    #[test]
    fn anything_else_has_no_prompt() {
        for body in [
            "",
            "not json",
            "[1,2]",
            r#"{"inputs":3}"#,
            r#"{"messages":"x"}"#,
            "{}",
        ] {
            assert_eq!(text(body), None, "{body}");
        }
    }
}

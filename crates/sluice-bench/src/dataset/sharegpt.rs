//! ShareGPT-format JSON: a list of conversations; the first user turn is the prompt and the
//! reply to it sets the output length, as vLLM's and SGLang's benches use the format.

use super::{estimate_tokens, Prompt};
use anyhow::{anyhow, Result};
use serde::Deserialize;

#[derive(Deserialize)]
struct Conversation {
    #[serde(alias = "messages", default)]
    conversations: Vec<Turn>,
}

/// ShareGPT spells turns `{"from": "human", "value"}`; OpenAI-style copies use
/// `{"role": "user", "content"}`. Both are read.
#[derive(Deserialize)]
struct Turn {
    #[serde(alias = "role")]
    from: String,
    #[serde(alias = "content")]
    value: String,
}

fn is_user(t: &Turn) -> bool {
    matches!(t.from.as_str(), "human" | "user")
}

/// Parses `text`; conversations without a user turn followed by a reply are skipped, as are
/// empty prompts. A malformed file gives one line naming it and the position.
pub fn parse(text: &str, name: &str) -> Result<Vec<Prompt>> {
    let conversations: Vec<Conversation> = serde_json::from_str(text).map_err(|e| {
        anyhow!(
            "{name}:{}:{}: {} (expected ShareGPT: [{{\"conversations\": [{{\"from\", \"value\"}}, ...]}}])",
            e.line(),
            e.column(),
            super::json_message(&e)
        )
    })?;
    Ok(conversations
        .iter()
        .filter_map(|c| {
            let at = c.conversations.iter().position(is_user)?;
            let prompt = &c.conversations[at];
            let reply = c.conversations.get(at + 1)?;
            if prompt.value.trim().is_empty() || is_user(reply) {
                return None;
            }
            let reply_tokens = u32::try_from(estimate_tokens(&reply.value)).unwrap_or(u32::MAX);
            Some(Prompt {
                text: prompt.value.clone(),
                max_new_tokens: Some(reply_tokens),
                est_input_tokens: estimate_tokens(&prompt.value),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_user_turn_and_reply_length() {
        let text = r#"[
          {"id": "a", "conversations": [{"from": "system", "value": "s"}, {"from": "human", "value": "Hi there"}, {"from": "gpt", "value": "Hello, how are you?"}]},
          {"id": "b", "conversations": [{"from": "human", "value": "no reply"}]},
          {"id": "c", "messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}
        ]"#;
        let p = parse(text, "sg.json").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].text, "Hi there");
        assert_eq!(p[0].max_new_tokens, Some(5));
        assert_eq!(p[1].text, "Q");
    }

    #[test]
    fn malformed_file_names_position() {
        let e = parse("[\n{\"conversations\": 5}\n]", "sg.json")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("sg.json:2:"), "{e}");
        assert!(e.contains("invalid type"));
        let e = parse("{\"not\": \"a list\"}", "sg.json")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("sg.json:1:"), "{e}");
    }
}

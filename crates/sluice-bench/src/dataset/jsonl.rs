//! JSONL prompt files: one `{"prompt": "...", "max_new_tokens": N}` object per line.

use super::{estimate_tokens, json_message, Prompt};
use anyhow::{bail, Result};
use serde::Deserialize;

#[derive(Deserialize)]
struct Line {
    prompt: String,
    max_new_tokens: Option<u32>,
}

/// Parses `text`; errors name `name` and the 1-based line. Blank lines are skipped; fields other
/// than `prompt` and `max_new_tokens` are ignored, so annotated files work.
pub fn parse(text: &str, name: &str) -> Result<Vec<Prompt>> {
    let mut prompts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line = match serde_json::from_str(line) {
            Ok(l) => l,
            Err(e) => bail!(
                "{name}:{n}: {} (expected {{\"prompt\": \"...\", \"max_new_tokens\"?: N}})",
                json_message(&e)
            ),
        };
        if parsed.prompt.trim().is_empty() {
            bail!("{name}:{n}: empty prompt");
        }
        if parsed.max_new_tokens == Some(0) {
            bail!("{name}:{n}: max_new_tokens must be at least 1");
        }
        prompts.push(Prompt {
            est_input_tokens: estimate_tokens(&parsed.prompt),
            text: parsed.prompt,
            max_new_tokens: parsed.max_new_tokens,
        });
    }
    Ok(prompts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_prompts_and_optional_lengths() {
        let text = "{\"prompt\": \"a b c d e\", \"max_new_tokens\": 7, \"tag\": 1}\n\n{\"prompt\": \"x\"}\n";
        let p = parse(text, "f.jsonl").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].max_new_tokens, Some(7));
        assert_eq!(p[0].est_input_tokens, 3);
        assert_eq!(p[1].max_new_tokens, None);
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        let err = |t: &str| parse(t, "f.jsonl").unwrap_err().to_string();
        let e = err("{\"prompt\": \"ok\"}\n{\"prompt\": 3}\n");
        assert!(e.starts_with("f.jsonl:2: invalid type"), "{e}");
        assert!(!e.contains('\n'));
        let e = err("{\"prompt\": \"ok\"}\nnot json\n");
        assert!(e.starts_with("f.jsonl:2: expected"), "{e}");
        assert!(err("{\"text\": \"x\"}").contains("f.jsonl:1: missing field `prompt`"));
        assert_eq!(err("{\"prompt\": \"  \"}"), "f.jsonl:1: empty prompt");
        assert!(err("{\"prompt\": \"a\", \"max_new_tokens\": -1}")
            .starts_with("f.jsonl:1: invalid value"));
    }
}

//! Tool calls on `/v1/chat/completions` (OpenAI's `tools`, `tool_choice`,
//! `parallel_tool_calls`; TGI's chat route takes the same fields).
//!
//! The model writes a call as `{"name": TOOL, "arguments": {...}}`. `required` and a named
//! tool force calls with a JSON schema built from the tools' parameter schemas (an array of
//! calls for `required`, one call for a named tool); `auto` generates freely and reads the
//! answer as calls when it is one (also inside Hermes-style `<tool_call>` tags, as models
//! trained for tools write them), else as text; `none` offers no tools. Templates that take
//! `tools` render them; for the others the tools and the call format go into the system turn.

use crate::error::ApiError;
use serde_json::{json, Value};
use sluice_core::{ChatTurn, Constraint};
use sluice_protocol::openai::ChatRequest;
use sluice_protocol::tools::{FunctionCall, Tool, ToolCall, ToolChoice};

/// How a request uses its tools.
#[derive(Clone, Debug, PartialEq)]
enum Mode {
    Auto,
    Required { parallel: bool },
    Named(String),
}

/// A request's tools and what it requires of them.
#[derive(Clone, Debug)]
pub struct ToolPlan {
    tools: Vec<Tool>,
    mode: Mode,
}

/// The request's tool plan; `None` when it offers no tools or chooses `none`.
pub fn plan(req: &ChatRequest) -> Result<Option<ToolPlan>, ApiError> {
    let tools = req.tools.clone().unwrap_or_default();
    if let Some(tool) = tools.iter().find(|t| t.kind != "function") {
        return Err(ApiError::validation(format!(
            "tool `{}` has type `{}`; only `function` tools exist",
            tool.function.name, tool.kind
        )));
    }
    let parallel = req.parallel_tool_calls.unwrap_or(true);
    let mode = match &req.tool_choice {
        None if tools.is_empty() => return Ok(None),
        None => Mode::Auto,
        Some(ToolChoice::Mode(mode)) => match mode.as_str() {
            "none" => return Ok(None),
            "auto" => Mode::Auto,
            "required" => Mode::Required { parallel },
            other => {
                return Err(ApiError::validation(format!(
                    "`tool_choice` must be `none`, `auto`, `required` or a function; got `{other}`"
                )))
            }
        },
        Some(ToolChoice::Function(named)) => {
            let name = &named.function.name;
            if !tools.iter().any(|t| &t.function.name == name) {
                return Err(ApiError::validation(format!(
                    "`tool_choice` names function `{name}`, which is not in `tools`"
                )));
            }
            Mode::Named(name.clone())
        }
    };
    if tools.is_empty() {
        return Err(ApiError::validation(
            "`tool_choice` needs `tools` to choose from",
        ));
    }
    Ok(Some(ToolPlan { tools, mode }))
}

impl ToolPlan {
    /// The schema forced calls follow (`required` and a named tool); `auto` forces nothing.
    pub fn constraint(&self) -> Option<Constraint> {
        let call = |tool: &Tool| {
            json!({
                "type": "object",
                "properties": {
                    "name": {"const": tool.function.name},
                    "arguments": tool.function.parameters.clone()
                        .unwrap_or_else(|| json!({"type": "object", "additionalProperties": false})),
                },
                "required": ["name", "arguments"],
                "additionalProperties": false,
            })
        };
        match &self.mode {
            Mode::Auto => None,
            Mode::Named(name) => self
                .tools
                .iter()
                .find(|t| &t.function.name == name)
                .map(|t| Constraint::JsonSchema(call(t))),
            Mode::Required { parallel } => {
                let mut calls = json!({
                    "type": "array",
                    "items": {"anyOf": self.tools.iter().map(call).collect::<Vec<_>>()},
                    "minItems": 1,
                });
                if !parallel {
                    calls["maxItems"] = json!(1);
                }
                Some(Constraint::JsonSchema(calls))
            }
        }
    }

    /// The tools as templates take them (OpenAI's list).
    pub fn tools_json(&self) -> Value {
        serde_json::to_value(&self.tools).unwrap_or(Value::Null)
    }

    /// Puts the tools and the call format into the conversation's system turn, for a
    /// template that does not render tools itself.
    pub fn instruct(&self, turns: &mut Vec<ChatTurn>) {
        let format = match &self.mode {
            Mode::Auto => "To call a tool, answer with only a JSON object {\"name\": <tool name>, \"arguments\": <its arguments>}; otherwise answer normally.",
            Mode::Required { parallel: true } => "Answer with only a JSON array of calls, each {\"name\": <tool name>, \"arguments\": <its arguments>}.",
            Mode::Required { parallel: false } | Mode::Named(_) => "Answer with only a JSON object {\"name\": <tool name>, \"arguments\": <its arguments>}.",
        };
        let text = format!(
            "You can call these tools (each tool's arguments are described by the JSON schema under \"parameters\"):\n{}\n{format}",
            self.tools_json()
        );
        match turns.first_mut() {
            Some(first) if first.role == "system" => {
                first.content = format!("{}\n\n{text}", first.content);
            }
            _ => turns.insert(
                0,
                ChatTurn {
                    role: "system".into(),
                    content: text,
                },
            ),
        }
    }

    /// The calls `text` makes, or `None` when it is not a call of these tools (then it is
    /// the answer's text). `new_id` names each call.
    pub fn calls(&self, text: &str, mut new_id: impl FnMut() -> String) -> Option<Vec<ToolCall>> {
        let written = parse_calls(text)?;
        let known = |name: &str| self.tools.iter().any(|t| t.function.name == name);
        if written.is_empty() || !written.iter().all(|(name, _)| known(name)) {
            return None;
        }
        Some(
            written
                .into_iter()
                .map(|(name, arguments)| ToolCall {
                    id: new_id(),
                    kind: "function".into(),
                    function: FunctionCall {
                        name,
                        arguments: arguments.to_string(),
                    },
                })
                .collect(),
        )
    }
}

/// `(name, arguments)` of every call in `text`: a call object, an array of them, or either
/// inside `<tool_call>...</tool_call>` tags.
fn parse_calls(text: &str) -> Option<Vec<(String, Value)>> {
    let text = text.trim();
    if text.starts_with("<tool_call>") {
        let mut calls = Vec::new();
        for part in text.split("<tool_call>").filter(|p| !p.trim().is_empty()) {
            let inner = part.trim().strip_suffix("</tool_call>")?;
            calls.extend(parse_calls(inner)?);
        }
        return Some(calls);
    }
    let call = |v: &Value| {
        let name = v.get("name")?.as_str()?.to_string();
        let arguments = v.get("arguments").or_else(|| v.get("parameters"))?;
        arguments.is_object().then(|| (name, arguments.clone()))
    };
    match serde_json::from_str::<Value>(text).ok()? {
        Value::Array(items) => items.iter().map(call).collect(),
        object @ Value::Object(_) => Some(vec![call(&object)?]),
        _ => None,
    }
}

/// A fresh call id, OpenAI-style.
pub fn call_id() -> String {
    format!("call_{:024x}", rand::random::<u128>() >> 32)
}

/// An earlier assistant turn's calls, written as the model writes calls, for the history.
pub fn history_text(calls: &[ToolCall]) -> String {
    let calls: Vec<Value> = calls
        .iter()
        .map(|c| {
            let arguments: Value =
                serde_json::from_str(&c.function.arguments).unwrap_or(Value::Null);
            json!({"name": c.function.name, "arguments": arguments})
        })
        .collect();
    match calls.as_slice() {
        [one] => one.to_string(),
        _ => Value::Array(calls).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(tools: Value, choice: Value) -> ToolPlan {
        let req: ChatRequest = serde_json::from_value(json!({
            "messages": [], "tools": tools, "tool_choice": choice}))
        .unwrap();
        plan(&req).unwrap().unwrap()
    }

    fn weather() -> Value {
        json!([{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
    }

    #[test]
    fn calls_are_read_in_every_written_form() {
        let plan = plan_of(weather(), json!("auto"));
        let id = || "id".to_string();
        for text in [
            r#"{"name": "get_weather", "arguments": {"city": "Paris"}}"#,
            r#" [{"name": "get_weather", "arguments": {"city": "Paris"}}]"#,
            "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
        ] {
            let calls = plan.calls(text, id).expect(text);
            assert_eq!(calls.len(), 1);
            assert_eq!(calls[0].function.name, "get_weather");
            assert_eq!(calls[0].function.arguments, r#"{"city":"Paris"}"#);
        }
        for text in [
            "It is sunny.",
            r#"{"name": "other", "arguments": {}}"#,
            r#"{"name": "get_weather"}"#,
            "[]",
        ] {
            assert!(plan.calls(text, id).is_none(), "{text}");
        }
    }

    #[test]
    fn forced_modes_constrain_to_the_tools_schemas() {
        let named = plan_of(
            weather(),
            json!({"type": "function", "function": {"name": "get_weather"}}),
        );
        let Some(Constraint::JsonSchema(schema)) = named.constraint() else {
            panic!("named tools are forced")
        };
        assert_eq!(schema["properties"]["name"]["const"], "get_weather");
        let required = plan_of(weather(), json!("required"));
        let Some(Constraint::JsonSchema(schema)) = required.constraint() else {
            panic!("required tools are forced")
        };
        assert_eq!(schema["type"], "array");
        assert!(plan_of(weather(), json!("auto")).constraint().is_none());
    }
}

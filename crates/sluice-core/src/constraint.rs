//! What a request may require of its output's shape (structured output). The APIs' many
//! spellings (TGI's `grammar`, OpenAI's `response_format`, vLLM's `structured_outputs` and
//! `guided_*`, llama-server's `json_schema`) all map to one of these; the engine compiles it
//! into a token mask.

/// The output must be, in full, ...
#[derive(Clone, Debug, PartialEq)]
pub enum Constraint {
    /// ... a JSON value that validates against this JSON schema (`{"type": "object"}` for
    /// OpenAI's `json_object`).
    JsonSchema(serde_json::Value),
    /// ... a match of this regular expression.
    Regex(String),
    /// ... exactly one of these strings.
    Choice(Vec<String>),
    /// ... a sentence of this Lark grammar (llguidance's dialect).
    Lark(String),
}

impl Constraint {
    /// What kind of constraint it is, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Constraint::JsonSchema(_) => "json_schema",
            Constraint::Regex(_) => "regex",
            Constraint::Choice(_) => "choice",
            Constraint::Lark(_) => "grammar",
        }
    }
}

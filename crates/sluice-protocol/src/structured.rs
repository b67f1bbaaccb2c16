//! How clients ask for structured output, in each API's spelling: TGI's `grammar`, OpenAI's
//! `response_format`, vLLM's `structured_outputs` and its older `guided_*` fields, and
//! llama-server's `json_schema` and `grammar`. The server maps all of them to one constraint.

use serde::Deserialize;
use serde_json::Value;

/// TGI's `parameters.grammar` (and the shape TGI's chat route takes as `response_format`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum TgiGrammar {
    /// A JSON schema (an object, or its text).
    #[serde(alias = "json_object")]
    Json(Value),
    /// `{"name": ..., "schema": {...}}`.
    JsonSchema(JsonSchemaSpec),
    Regex(String),
}

/// OpenAI's `response_format`; TGI's chat route takes TGI's grammar shapes here too.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    JsonObject,
    /// OpenAI: `{"type": "json_schema", "json_schema": {...}}`; TGI: `"value"` instead.
    JsonSchema {
        json_schema: Option<JsonSchemaSpec>,
        value: Option<JsonSchemaSpec>,
    },
    /// TGI: `{"type": "json", "value": SCHEMA}`.
    Json {
        value: Value,
    },
    /// TGI: `{"type": "regex", "value": REGEX}`.
    Regex {
        value: String,
    },
}

/// A named JSON schema (OpenAI's `json_schema`, TGI's `json_schema` value).
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct JsonSchemaSpec {
    pub name: Option<String>,
    pub description: Option<String>,
    /// Absent means any JSON object, as OpenAI's docs allow.
    pub schema: Option<Value>,
    /// OpenAI's strict mode: sluice always holds the output to the schema.
    pub strict: Option<bool>,
}

/// vLLM's `structured_outputs` (one of its fields is set).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct StructuredOutputs {
    pub json: Option<Value>,
    pub regex: Option<String>,
    pub choice: Option<Vec<String>>,
    pub grammar: Option<String>,
    pub json_object: Option<bool>,
}

/// Every structured-output field of the OpenAI routes, flattened into their requests.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct StructuredFields {
    pub response_format: Option<ResponseFormat>,
    pub structured_outputs: Option<StructuredOutputs>,
    /// vLLM's older spellings, which clients still send.
    pub guided_json: Option<Value>,
    pub guided_regex: Option<String>,
    pub guided_choice: Option<Vec<String>>,
    pub guided_grammar: Option<String>,
    /// llama-server's: a JSON schema, and a grammar (sluice takes Lark, not GBNF).
    pub json_schema: Option<Value>,
    pub grammar: Option<String>,
}

//! Structured-output fields, in every API's spelling, to the one [`Constraint`] the engine
//! compiles. A request names at most one; whether it compiles is the engine's to say (422).

use crate::error::ApiError;
use serde_json::{json, Value};
use sluice_core::Constraint;
use sluice_protocol::structured::{
    JsonSchemaSpec, ResponseFormat, StructuredFields, StructuredOutputs, TgiGrammar,
};

/// TGI's `parameters.grammar`.
pub fn from_tgi(grammar: Option<&TgiGrammar>) -> Result<Option<Constraint>, ApiError> {
    grammar
        .map(|g| match g {
            TgiGrammar::Json(schema) => json_schema("grammar", schema),
            TgiGrammar::JsonSchema(spec) => named_schema(spec),
            TgiGrammar::Regex(regex) => Ok(Constraint::Regex(regex.clone())),
        })
        .transpose()
}

/// The OpenAI routes' fields (OpenAI's, vLLM's, llama-server's, TGI's chat shapes).
pub fn from_openai(fields: &StructuredFields) -> Result<Option<Constraint>, ApiError> {
    let mut given: Vec<(&str, Constraint)> = Vec::new();
    if let Some(format) = &fields.response_format {
        if let Some(c) = response_format(format)? {
            given.push(("response_format", c));
        }
    }
    if let Some(outputs) = &fields.structured_outputs {
        given.extend(structured_outputs(outputs)?);
    }
    if let Some(schema) = &fields.guided_json {
        given.push(("guided_json", json_schema("guided_json", schema)?));
    }
    if let Some(regex) = &fields.guided_regex {
        given.push(("guided_regex", Constraint::Regex(regex.clone())));
    }
    if let Some(choices) = &fields.guided_choice {
        given.push(("guided_choice", choice("guided_choice", choices)?));
    }
    if let Some(grammar) = &fields.guided_grammar {
        given.push(("guided_grammar", lark("guided_grammar", grammar)?));
    }
    if let Some(schema) = &fields.json_schema {
        given.push(("json_schema", json_schema("json_schema", schema)?));
    }
    if let Some(grammar) = &fields.grammar {
        given.push(("grammar", lark("grammar", grammar)?));
    }
    if given.len() > 1 {
        let names: Vec<&str> = given.iter().map(|(name, _)| *name).collect();
        return Err(ApiError::validation(format!(
            "only one structured-output field may be given; this request has {}",
            names.join(", ")
        )));
    }
    Ok(given.pop().map(|(_, c)| c))
}

fn response_format(format: &ResponseFormat) -> Result<Option<Constraint>, ApiError> {
    Ok(match format {
        ResponseFormat::Text => None,
        ResponseFormat::JsonObject => Some(any_object()),
        ResponseFormat::JsonSchema { json_schema, value } => {
            match json_schema.as_ref().or(value.as_ref()) {
                Some(spec) => Some(named_schema(spec)?),
                None => {
                    return Err(ApiError::validation(
                        "`response_format` of type `json_schema` needs a `json_schema` object",
                    ))
                }
            }
        }
        ResponseFormat::Json { value } => Some(json_schema("response_format", value)?),
        ResponseFormat::Regex { value } => Some(Constraint::Regex(value.clone())),
    })
}

fn structured_outputs(s: &StructuredOutputs) -> Result<Vec<(&'static str, Constraint)>, ApiError> {
    let mut given = Vec::new();
    if let Some(schema) = &s.json {
        given.push((
            "structured_outputs.json",
            json_schema("structured_outputs.json", schema)?,
        ));
    }
    if let Some(regex) = &s.regex {
        given.push(("structured_outputs.regex", Constraint::Regex(regex.clone())));
    }
    if let Some(choices) = &s.choice {
        given.push((
            "structured_outputs.choice",
            choice("structured_outputs.choice", choices)?,
        ));
    }
    if let Some(grammar) = &s.grammar {
        given.push((
            "structured_outputs.grammar",
            lark("structured_outputs.grammar", grammar)?,
        ));
    }
    if s.json_object == Some(true) {
        given.push(("structured_outputs.json_object", any_object()));
    }
    Ok(given)
}

/// OpenAI's `json_object`: any JSON object.
fn any_object() -> Constraint {
    Constraint::JsonSchema(json!({"type": "object"}))
}

fn named_schema(spec: &JsonSchemaSpec) -> Result<Constraint, ApiError> {
    match &spec.schema {
        Some(schema) => json_schema("json_schema.schema", schema),
        None => Ok(any_object()),
    }
}

/// A schema given as an object, or as its JSON text (vLLM takes both).
fn json_schema(field: &str, schema: &Value) -> Result<Constraint, ApiError> {
    let schema = match schema {
        Value::String(text) => serde_json::from_str(text)
            .map_err(|e| ApiError::validation(format!("`{field}` is not a JSON schema: {e}")))?,
        other => other.clone(),
    };
    match schema {
        Value::Object(_) | Value::Bool(_) => Ok(Constraint::JsonSchema(schema)),
        _ => Err(ApiError::validation(format!(
            "`{field}` must be a JSON schema (an object)"
        ))),
    }
}

fn choice(field: &str, choices: &[String]) -> Result<Constraint, ApiError> {
    if choices.is_empty() {
        return Err(ApiError::validation(format!("`{field}` cannot be empty")));
    }
    Ok(Constraint::Choice(choices.to_vec()))
}

/// A grammar in llguidance's Lark syntax. GBNF (llama.cpp's `::=` rules) is not taken: it
/// would be refused by the compiler with a message about Lark, so say why first.
fn lark(field: &str, grammar: &str) -> Result<Constraint, ApiError> {
    if grammar.contains("::=") {
        return Err(ApiError::validation(format!(
            "`{field}` looks like a GBNF grammar; sluice takes grammars in Lark syntax \
             (llguidance's dialect, e.g. `start: \"yes\" | \"no\"`)"
        )));
    }
    Ok(Constraint::Lark(grammar.to_string()))
}

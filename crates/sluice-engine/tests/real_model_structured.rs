//! Structured output on the default model: each of 20 committed JSON schemas (nested objects,
//! arrays, enums, bounded numbers, required and optional fields, patterns, unions, `$ref`s)
//! gives, greedy and all in one batch, output that parses and validates against its schema;
//! a regex and a choice hold too.

mod common;
use common::references::reference;
use common::*;
use serde::Deserialize;
use sluice_core::{
    Constraint, FinishReason, GenerationRequest, LogprobOptions, SamplingParams, StopCriteria,
};
use sluice_engine::EngineConfig;
use sluice_tokenizer::ChatMessage;

#[derive(Deserialize)]
struct Schemas {
    cases: Vec<SchemaCase>,
}

#[derive(Deserialize)]
struct SchemaCase {
    name: String,
    prompt: String,
    schema: serde_json::Value,
}

/// The model's chat prompt for `question`, as token ids.
fn chat_prompt(question: &str) -> Vec<u32> {
    let tokenizer = tokenizer(&real_model_path());
    let messages = [ChatMessage {
        role: "user".into(),
        content: question.into(),
    }];
    let text = tokenizer
        .apply_chat_template(&messages, None, true)
        .unwrap();
    tokenizer.encode(&text, true).unwrap()
}

fn run(constrained: Vec<(String, Constraint)>) -> Vec<Output> {
    let handle = engine(&real_model_path(), EngineConfig::default());
    let streams: Vec<_> = constrained
        .into_iter()
        .map(|(question, constraint)| {
            handle
                .submit(GenerationRequest {
                    id: handle.next_request_id(),
                    prompt_ids: chat_prompt(&question),
                    sampling: SamplingParams::greedy(),
                    stop: StopCriteria::max_new_tokens(400),
                    logprobs: LogprobOptions::default(),
                    constraint: Some(constraint),
                })
                .unwrap()
        })
        .collect();
    streams.into_iter().map(collect).collect()
}

#[test]
fn twenty_schemas_give_valid_json() {
    let schemas: Schemas = reference("structured_schemas.json");
    assert_eq!(schemas.cases.len(), 20);
    let outputs = run(schemas
        .cases
        .iter()
        .map(|c| (c.prompt.clone(), Constraint::JsonSchema(c.schema.clone())))
        .collect());
    for (case, out) in schemas.cases.iter().zip(outputs) {
        assert_eq!(
            out.finish,
            FinishReason::EosToken,
            "{}: {:?}",
            case.name,
            out.text
        );
        let value: serde_json::Value = serde_json::from_str(&out.text)
            .unwrap_or_else(|e| panic!("{}: {:?} is not JSON: {e}", case.name, out.text));
        let validator = jsonschema::validator_for(&case.schema).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{}: {value} breaks its schema: {errors:?}",
            case.name
        );
    }
}

#[test]
fn a_regex_and_a_choice_hold_on_the_real_model() {
    let date = "20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])";
    let choices = vec!["Paris".to_string(), "London".into(), "Berlin".into()];
    let outputs = run(vec![
        (
            "When did the Berlin wall fall? Answer with a date.".into(),
            Constraint::Regex(date.into()),
        ),
        (
            "What is the capital of France?".into(),
            Constraint::Choice(choices.clone()),
        ),
    ]);
    let whole = regex::Regex::new(&format!("^(?:{date})$")).unwrap();
    assert!(whole.is_match(&outputs[0].text), "{:?}", outputs[0].text);
    assert!(choices.contains(&outputs[1].text), "{:?}", outputs[1].text);
}

/// Free greedy requests get the same tokens beside constrained ones as alone.
#[test]
fn constrained_requests_leave_free_greedy_output_unchanged() {
    let questions = ["What is the capital of France?", "Name three colors."];
    let free = |handle: &sluice_engine::EngineHandle, question: &str| {
        handle
            .submit(GenerationRequest {
                id: handle.next_request_id(),
                prompt_ids: chat_prompt(question),
                sampling: SamplingParams::greedy(),
                stop: StopCriteria::max_new_tokens(24),
                logprobs: LogprobOptions::default(),
                constraint: None,
            })
            .unwrap()
    };
    let handle = engine(&real_model_path(), EngineConfig::default());
    let alone: Vec<Output> = questions
        .iter()
        .map(|q| collect(free(&handle, q)))
        .collect();
    let schema: Schemas = reference("structured_schemas.json");
    let mut streams = Vec::new();
    for (i, q) in questions.iter().enumerate() {
        let case = &schema.cases[i];
        streams.push((
            false,
            handle
                .submit(GenerationRequest {
                    id: handle.next_request_id(),
                    prompt_ids: chat_prompt(&case.prompt),
                    sampling: SamplingParams::greedy(),
                    stop: StopCriteria::max_new_tokens(24),
                    logprobs: LogprobOptions::default(),
                    constraint: Some(Constraint::JsonSchema(case.schema.clone())),
                })
                .unwrap(),
        ));
        streams.push((true, free(&handle, q)));
    }
    let beside: Vec<Output> = streams
        .into_iter()
        .filter_map(|(is_free, rx)| {
            let out = collect(rx);
            is_free.then_some(out)
        })
        .collect();
    assert_eq!(beside, alone);
}

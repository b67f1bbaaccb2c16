//! Constrained decoding on the tiny model, whose free output is noise: a regex, a choice and a
//! JSON schema shape every request's text, greedy and sampled; speculation and batching with
//! free requests change nothing; a constraint that does not compile is refused at submission.

mod common;
use common::*;
use serde_json::json;
use sluice_core::{
    Constraint, FinishReason, GenerationError, GenerationRequest, LogprobOptions, SamplingParams,
    StopCriteria,
};
use sluice_engine::EngineHandle;

const VOCAB: u32 = 256;

fn sampled(seed: u64) -> SamplingParams {
    SamplingParams {
        temperature: 1.0,
        seed,
        ..SamplingParams::greedy()
    }
}

fn submit(
    handle: &EngineHandle,
    prompt_ids: Vec<u32>,
    sampling: SamplingParams,
    constraint: Option<Constraint>,
) -> tokio::sync::mpsc::UnboundedReceiver<sluice_engine::EngineEvent> {
    handle
        .submit(GenerationRequest {
            id: handle.next_request_id(),
            prompt_ids,
            sampling,
            stop: StopCriteria::max_new_tokens(60),
            logprobs: LogprobOptions::default(),
            constraint,
        })
        .expect("submitted")
}

/// Every prompt's output under `constraint`, greedy and sampled, all in one batch.
fn constrained_outputs(handle: &EngineHandle, constraint: &Constraint) -> Vec<Output> {
    let streams: Vec<_> = token_prompts(6, VOCAB)
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let sampling = if i % 2 == 0 {
                SamplingParams::greedy()
            } else {
                sampled(i as u64)
            };
            submit(handle, p, sampling, Some(constraint.clone()))
        })
        .collect();
    streams.into_iter().map(collect).collect()
}

fn assert_no_leak(handle: &EngineHandle) {
    let s = stats(handle);
    assert_eq!(s.kv_blocks_free, s.kv_blocks_total, "{s:?}");
}

#[test]
fn a_regex_shapes_every_output() {
    let handle = engine(&tiny_model_path(), speculating(0, &None));
    let pattern = "[a-c]{3}-[0-9]{2,4}";
    let whole = regex::Regex::new(&format!("^(?:{pattern})$")).unwrap();
    for out in constrained_outputs(&handle, &Constraint::Regex(pattern.into())) {
        assert!(whole.is_match(&out.text), "{:?} does not match", out.text);
        assert_eq!(out.finish, FinishReason::EosToken, "{out:?}");
    }
    assert_no_leak(&handle);
}

#[test]
fn a_choice_gives_one_of_the_choices() {
    let handle = engine(&tiny_model_path(), speculating(0, &None));
    let choices = vec![
        "positive".to_string(),
        "negative".into(),
        "neutral \"?\"".into(),
    ];
    for out in constrained_outputs(&handle, &Constraint::Choice(choices.clone())) {
        assert!(
            choices.contains(&out.text),
            "{:?} is not a choice",
            out.text
        );
    }
}

fn schema() -> serde_json::Value {
    json!({
        "type": "object",
        "properties": {
            "color": {"enum": ["red", "green", "blue"]},
            "ok": {"type": "boolean"},
            "n": {"type": "integer", "minimum": 0, "maximum": 99},
            "tags": {"type": "array", "items": {"enum": ["x", "y"]}, "maxItems": 3}
        },
        "required": ["color", "ok", "n", "tags"],
        "additionalProperties": false
    })
}

#[test]
fn a_json_schema_gives_json_of_that_shape() {
    let handle = engine(&tiny_model_path(), speculating(0, &None));
    for out in constrained_outputs(&handle, &Constraint::JsonSchema(schema())) {
        let value: serde_json::Value = serde_json::from_str(&out.text)
            .unwrap_or_else(|e| panic!("{:?} is not JSON: {e}", out.text));
        assert!(["red", "green", "blue"].contains(&value["color"].as_str().unwrap()));
        assert!(value["ok"].is_boolean());
        assert!((0..=99).contains(&value["n"].as_i64().unwrap()), "{value}");
        assert!(value["tags"].as_array().unwrap().len() <= 3);
        assert_eq!(value.as_object().unwrap().len(), 4, "{value}");
    }
}

/// Free requests beside constrained ones get exactly what they get alone.
#[test]
fn constrained_requests_leave_free_ones_unchanged() {
    let prompts = token_prompts(6, VOCAB);
    let alone = run_all(
        &engine(&tiny_model_path(), speculating(0, &None)),
        prompts.iter().map(|p| greedy(p.clone(), 30)).collect(),
    );
    let handle = engine(&tiny_model_path(), speculating(0, &None));
    let streams: Vec<_> = prompts
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            let constrained = submit(
                &handle,
                p.clone(),
                sampled(i as u64),
                Some(Constraint::JsonSchema(schema())),
            );
            let free = handle
                .submit(GenerationRequest {
                    id: handle.next_request_id(),
                    prompt_ids: p.clone(),
                    sampling: SamplingParams::greedy(),
                    stop: StopCriteria {
                        max_new_tokens: 30,
                        stop_sequences: vec![],
                        ignore_eos: true,
                    },
                    logprobs: LogprobOptions::default(),
                    constraint: None,
                })
                .unwrap();
            [constrained, free]
        })
        .collect();
    let outs: Vec<Output> = streams.into_iter().map(collect).collect();
    let beside: Vec<Output> = outs.into_iter().skip(1).step_by(2).collect();
    assert_eq!(beside, alone);
    assert_no_leak(&handle);
}

/// Greedy outputs (sampled ones draw differently when proposals are checked, and are exact
/// only in distribution).
fn greedy_ones(outputs: Vec<Output>) -> Vec<Output> {
    outputs.into_iter().step_by(2).collect()
}

/// Speculation checks only proposals the grammar allows, and changes no constrained greedy
/// output.
#[test]
fn speculation_changes_no_constrained_output() {
    for constraint in [
        Constraint::JsonSchema(schema()),
        Constraint::Regex("(ab|[0-9])+x".into()),
    ] {
        let plain = greedy_ones(constrained_outputs(
            &engine(&tiny_model_path(), speculating(0, &None)),
            &constraint,
        ));
        for n in [2, 8] {
            let handle = engine(&tiny_model_path(), speculating(n, &None));
            let speculated = greedy_ones(constrained_outputs(&handle, &constraint));
            assert_eq!(speculated, plain, "--speculate {n}, {constraint:?}");
            let s = stats(&handle).speculation.expect("speculation stats");
            assert!(s.proposed_tokens > 0, "{s:?}");
            assert_no_leak(&handle);
        }
    }
}

#[test]
fn a_constraint_that_does_not_compile_is_refused_at_once() {
    let handle = engine(&tiny_model_path(), speculating(0, &None));
    for (constraint, says) in [
        (Constraint::Regex("[a-".into()), "invalid regex"),
        (
            Constraint::JsonSchema(
                json!({"type": "object", "properties": {"a": {"type": "strin"}}}),
            ),
            "invalid json schema",
        ),
        (
            Constraint::Lark("start: undefined_rule".into()),
            "invalid grammar",
        ),
    ] {
        let err = handle
            .submit(GenerationRequest {
                id: handle.next_request_id(),
                prompt_ids: vec![1, 2, 3],
                sampling: SamplingParams::greedy(),
                stop: StopCriteria::max_new_tokens(5),
                logprobs: LogprobOptions::default(),
                constraint: Some(constraint),
            })
            .unwrap_err();
        assert!(
            matches!(err, GenerationError::InvalidConstraint(_)),
            "{err:?}"
        );
        assert!(err.to_string().starts_with(says), "{err}");
    }
    assert_eq!(stats(&handle).running, 0);
}

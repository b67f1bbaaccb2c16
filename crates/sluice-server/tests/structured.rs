//! Every API's spelling of structured output reaches the engine as the one constraint it
//! means; two at once, or one that is malformed, get a 422 naming the field.

mod common;
use common::*;
use serde_json::{json, Value};
use sluice_core::Constraint;

fn schema() -> Value {
    json!({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]})
}

/// (route, body, the constraint the engine must get)
fn cases() -> Vec<(&'static str, Value, Option<Constraint>)> {
    let object = Constraint::JsonSchema(json!({"type": "object"}));
    let schema_c = Constraint::JsonSchema(schema());
    let regex = Constraint::Regex("[0-9]+".into());
    let chat = |extra: Value| {
        let mut body = json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let completion = |extra: Value| {
        let mut body = json!({"prompt": "hi", "max_tokens": 3});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let tgi = |grammar: Value| json!({"inputs": "hi", "parameters": {"max_new_tokens": 3, "grammar": grammar}});
    vec![
        // TGI's `grammar`.
        (
            "/generate",
            tgi(json!({"type": "json", "value": schema()})),
            Some(schema_c.clone()),
        ),
        (
            "/generate",
            tgi(json!({"type": "json", "value": schema().to_string()})),
            Some(schema_c.clone()),
        ),
        (
            "/generate",
            tgi(json!({"type": "json_schema", "value": {"name": "x", "schema": schema()}})),
            Some(schema_c.clone()),
        ),
        (
            "/generate",
            tgi(json!({"type": "regex", "value": "[0-9]+"})),
            Some(regex.clone()),
        ),
        (
            "/generate_stream",
            tgi(json!({"type": "regex", "value": "[0-9]+"})),
            Some(regex.clone()),
        ),
        (
            "/generate",
            json!({"inputs": "hi", "parameters": {"max_new_tokens": 3}}),
            None,
        ),
        // OpenAI's `response_format`.
        (
            "/v1/chat/completions",
            chat(json!({"response_format": {"type": "text"}})),
            None,
        ),
        (
            "/v1/chat/completions",
            chat(json!({"response_format": {"type": "json_object"}})),
            Some(object.clone()),
        ),
        (
            "/v1/chat/completions",
            chat(json!({"response_format": {"type": "json_schema",
                "json_schema": {"name": "x", "schema": schema(), "strict": true}}})),
            Some(schema_c.clone()),
        ),
        (
            "/v1/chat/completions",
            chat(
                json!({"stream": true, "response_format": {"type": "json_schema",
                "json_schema": {"name": "x", "schema": schema()}}}),
            ),
            Some(schema_c.clone()),
        ),
        // TGI's chat route takes its grammar shapes as `response_format`.
        (
            "/v1/chat/completions",
            chat(json!({"response_format": {"type": "json", "value": schema()}})),
            Some(schema_c.clone()),
        ),
        (
            "/v1/chat/completions",
            chat(json!({"response_format": {"type": "regex", "value": "[0-9]+"}})),
            Some(regex.clone()),
        ),
        // vLLM's `structured_outputs` and `guided_*`.
        (
            "/v1/completions",
            completion(json!({"structured_outputs": {"json": schema()}})),
            Some(schema_c.clone()),
        ),
        (
            "/v1/completions",
            completion(json!({"structured_outputs": {"regex": "[0-9]+"}})),
            Some(regex.clone()),
        ),
        (
            "/v1/chat/completions",
            chat(json!({"structured_outputs": {"choice": ["yes", "no"]}})),
            Some(Constraint::Choice(vec!["yes".into(), "no".into()])),
        ),
        (
            "/v1/completions",
            completion(json!({"structured_outputs": {"grammar": "start: \"a\"+"}})),
            Some(Constraint::Lark("start: \"a\"+".into())),
        ),
        (
            "/v1/completions",
            completion(json!({"structured_outputs": {"json_object": true}})),
            Some(object.clone()),
        ),
        (
            "/v1/completions",
            completion(json!({"guided_json": schema().to_string()})),
            Some(schema_c.clone()),
        ),
        (
            "/v1/completions",
            completion(json!({"guided_regex": "[0-9]+"})),
            Some(regex.clone()),
        ),
        (
            "/v1/chat/completions",
            chat(json!({"guided_choice": ["a", "b"]})),
            Some(Constraint::Choice(vec!["a".into(), "b".into()])),
        ),
        (
            "/v1/completions",
            completion(json!({"guided_grammar": "start: /[a-z]+/"})),
            Some(Constraint::Lark("start: /[a-z]+/".into())),
        ),
        // llama-server's `json_schema` and `grammar`.
        (
            "/v1/completions",
            completion(json!({"json_schema": schema()})),
            Some(schema_c),
        ),
        (
            "/v1/completions",
            completion(json!({"grammar": "start: \"x\""})),
            Some(Constraint::Lark("start: \"x\"".into())),
        ),
    ]
}

#[tokio::test]
async fn every_spelling_reaches_the_engine_as_its_constraint() {
    let fake = Fake::new(false);
    let url = start(fake.clone(), limits()).await;
    for (route, body, expected) in cases() {
        let (status, answer) = post(&format!("{url}{route}"), body.to_string()).await;
        assert_eq!(status, 200, "{route} {body}: {answer}");
        let submitted = fake.submitted.lock().unwrap().pop().expect("submitted");
        assert_eq!(submitted.constraint, expected, "{route} {body}");
    }
}

#[tokio::test]
async fn malformed_or_doubled_structured_output_is_refused_by_name() {
    let fake = Fake::new(false);
    let url = start(fake.clone(), limits()).await;
    let cases = [
        (
            "/v1/completions",
            json!({"prompt": "hi", "guided_regex": "a", "json_schema": schema()}),
            "only one structured-output field may be given; this request has guided_regex, json_schema",
        ),
        (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "hi"}],
                "response_format": {"type": "json_object"}, "guided_choice": ["a"]}),
            "response_format, guided_choice",
        ),
        (
            "/v1/completions",
            json!({"prompt": "hi", "guided_json": "{not json"}),
            "`guided_json` is not a JSON schema",
        ),
        ("/v1/completions", json!({"prompt": "hi", "json_schema": 5}), "`json_schema` must be a JSON schema"),
        ("/v1/completions", json!({"prompt": "hi", "guided_choice": []}), "`guided_choice` cannot be empty"),
        (
            "/v1/completions",
            json!({"prompt": "hi", "grammar": "root ::= \"yes\" | \"no\""}),
            "looks like a GBNF grammar",
        ),
        (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "hi"}],
                "response_format": {"type": "json_schema"}}),
            "needs a `json_schema` object",
        ),
        (
            "/v1/chat/completions",
            json!({"messages": [{"role": "user", "content": "hi"}],
                "response_format": {"type": "xml"}}),
            "unknown variant `xml`",
        ),
        (
            "/generate",
            json!({"inputs": "hi", "parameters": {"grammar": {"type": "lark", "value": "x"}}}),
            "unknown variant `lark`",
        ),
    ];
    for (route, body, says) in cases {
        let (status, answer) = post(&format!("{url}{route}"), body.to_string()).await;
        assert_eq!(status, 422, "{route} {body}: {answer}");
        assert!(
            answer.to_string().contains(says),
            "{route} {body}: {answer}"
        );
    }
    assert!(fake.submitted.lock().unwrap().is_empty());
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}})
}

/// Tools reach the prompt (the fake's template takes none, so the system turn gets them), and
/// `required` and a named tool force calls by schema; `none` offers nothing.
#[tokio::test]
async fn tools_reach_the_prompt_and_forced_calls_are_constrained() {
    let fake = Fake::new(false);
    // The fake spends a token per byte: room for the tools' text.
    let roomy = sluice_server::Limits {
        max_input_tokens: 2000,
        max_total_tokens: 2048,
        ..limits()
    };
    let url = start(fake.clone(), roomy).await;
    let chat = |choice: Value| {
        json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3,
            "tools": [weather_tool()], "tool_choice": choice})
    };
    for (choice, forced) in [
        (json!("required"), Some("array")),
        (
            json!({"type": "function", "function": {"name": "get_weather"}}),
            Some("object"),
        ),
        (json!("auto"), None),
        (json!("none"), None),
    ] {
        let (status, answer) = post(
            &format!("{url}/v1/chat/completions"),
            chat(choice.clone()).to_string(),
        )
        .await;
        assert_eq!(status, 200, "{choice}: {answer}");
        // The fake's answer is not a call: it comes back as text.
        assert_eq!(answer["choices"][0]["finish_reason"], "length", "{answer}");
        let submitted = fake.submitted.lock().unwrap().pop().unwrap();
        let prompt: String = submitted
            .prompt_ids
            .iter()
            .map(|&b| b as u8 as char)
            .collect();
        assert_eq!(
            prompt.contains("get_weather"),
            choice != json!("none"),
            "{prompt}"
        );
        match (forced, submitted.constraint) {
            (Some(kind), Some(Constraint::JsonSchema(schema))) => {
                assert_eq!(schema["type"], kind, "{schema}")
            }
            (None, None) => {}
            (forced, got) => panic!("{choice}: wanted {forced:?}, got {got:?}"),
        }
    }
}

#[tokio::test]
async fn bad_tool_requests_are_refused_by_name() {
    let fake = Fake::new(false);
    let url = start(fake.clone(), limits()).await;
    let messages = json!([{"role": "user", "content": "hi"}]);
    let cases = [
        (
            json!({"messages": messages, "tool_choice": "required"}),
            "`tool_choice` needs `tools`",
        ),
        (
            json!({"messages": messages, "tools": [weather_tool()],
                "tool_choice": {"type": "function", "function": {"name": "nope"}}}),
            "names function `nope`, which is not in `tools`",
        ),
        (
            json!({"messages": messages, "tools": [weather_tool()], "tool_choice": "sometimes"}),
            "`tool_choice` must be `none`, `auto`, `required` or a function",
        ),
        (
            json!({"messages": messages, "tools": [{"type": "retrieval", "function": {"name": "x"}}]}),
            "only `function` tools exist",
        ),
        (
            json!({"messages": messages, "tools": [weather_tool()], "tool_choice": "required",
                "response_format": {"type": "json_object"}}),
            "cannot be combined with another structured-output field",
        ),
    ];
    for (body, says) in cases {
        let (status, answer) = post(&format!("{url}/v1/chat/completions"), body.to_string()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    assert!(fake.submitted.lock().unwrap().is_empty());
}

#[tokio::test]
async fn logit_bias_reaches_the_sampler_and_bad_biases_are_refused() {
    let fake = Fake::new(false);
    let url = start(fake.clone(), limits()).await;
    let body = json!({"prompt": "hi", "max_tokens": 2, "logit_bias": {"42": -100, "7": 5.5}});
    let (status, answer) = post(&format!("{url}/v1/completions"), body.to_string()).await;
    assert_eq!(status, 200, "{answer}");
    let submitted = fake.submitted.lock().unwrap().pop().unwrap();
    assert_eq!(submitted.sampling.logit_bias, vec![(42, -100.0), (7, 5.5)]);
    for (bias, says) in [
        (json!({"x": 1}), "`logit_bias` keys must be token ids"),
        (
            json!({"3": 101}),
            "`logit_bias` values must be >= -100 and <= 100",
        ),
    ] {
        let body = json!({"messages": [{"role": "user", "content": "hi"}], "logit_bias": bias});
        let (status, answer) = post(&format!("{url}/v1/chat/completions"), body.to_string()).await;
        assert_eq!(status, 422, "{answer}");
        assert!(answer.to_string().contains(says), "{answer}");
    }
}

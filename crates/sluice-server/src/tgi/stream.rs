//! `POST /generate_stream` and the streaming half of `POST /`: one server-sent event per token,
//! the last one carrying the whole text (and details when asked); a failure ends the stream
//! with TGI's error object.

use super::params::knobs;
use super::tokens;
use crate::error::ApiError;
use crate::generation::{events, submit_all};
use crate::sse::json_event;
use crate::validate::validate;
use crate::AppState;
use futures_util::StreamExt;
use sluice_core::Backend;
use sluice_protocol::tgi::{GenerateParameters, StreamDetails, StreamResponse};

pub async fn run<B: Backend>(
    state: &AppState<B>,
    inputs: String,
    parameters: GenerateParameters,
) -> Result<axum::response::Response, ApiError> {
    let mut flight = state.admit()?;
    let limits = &state.config.limits;
    let (knobs, options) = knobs(&parameters, &state.config, true)?;
    let backend = state.backend.clone();
    let req = validate(backend.as_ref(), limits, &inputs, knobs)?;
    let rx = submit_all(backend.as_ref(), &req)?.remove(0);
    flight.submitted(req.input_length());
    let mut text = if options.return_full_text {
        inputs
    } else {
        String::new()
    };
    let mut index = 0u32;
    let (seed, input_length, top_n) = (req.seeds[0], req.input_length() as u32, req.logprobs.top_n);
    let stream = events(rx).map(move |event| {
        let event = match event {
            Ok(event) => event,
            Err(e) => {
                flight.finish();
                return json_event(&ApiError::from(e).tgi_body());
            }
        };
        flight.on_token();
        index += 1;
        text.push_str(&event.text);
        let last = event.finish.map(|reason| {
            flight.finish();
            let details = options.details.then(|| StreamDetails {
                finish_reason: reason.to_string(),
                generated_tokens: index,
                seed,
                input_length,
            });
            (std::mem::take(&mut text), details)
        });
        let (generated_text, details) = match last {
            Some((t, d)) => (Some(t), d),
            None => (None, None),
        };
        json_event(&StreamResponse {
            index,
            token: tokens::generated(&event),
            top_tokens: if top_n > 0 {
                tokens::alternatives(backend.as_ref(), &event)
            } else {
                Vec::new()
            },
            generated_text,
            details,
        })
    });
    Ok(crate::sse::response(stream))
}

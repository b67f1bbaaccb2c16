//! Server-sent events as TGI and OpenAI send them: `data: <json>` per event.

use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use std::convert::Infallible;

pub fn json_event(data: &impl Serialize) -> Event {
    // Our wire types always serialize; an empty event would be the only fallback.
    Event::default()
        .json_data(data)
        .unwrap_or_else(|_| Event::default().data("{}"))
}

/// The response that sends `events` as they come. Dropping it (the client went away) drops
/// the stream, and with it the requests' event receivers: the engine aborts them.
pub fn response(events: impl Stream<Item = Event> + Send + 'static) -> Response {
    Sse::new(events.map(Ok::<_, Infallible>))
        .keep_alive(KeepAlive::default())
        .into_response()
}

//! Request bodies: read up to the size limit and parsed as JSON by serde, with every failure
//! (too large, not UTF-8, malformed, wrong types) turned into a clear [`ApiError`] instead of
//! axum's plain-text rejections.

use crate::error::{ApiError, ErrorKind};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError {
                    kind: ErrorKind::PayloadTooLarge,
                    message: "request body is too large".into(),
                }
            } else {
                ApiError::validation(format!("could not read the request body: {rejection}"))
            }
        })?;
        parse(&bytes).map(JsonBody)
    }
}

/// Parses a body, naming what is wrong and where.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(ApiError::validation("request body is not valid UTF-8"));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::validation(format!("invalid JSON body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_protocol::tgi::GenerateRequest;

    #[test]
    fn failures_name_the_problem() {
        let msg = |b: &[u8]| parse::<GenerateRequest>(b).unwrap_err().message;
        assert!(msg(b"{\"inputs\": \"a\"").contains("EOF"));
        assert!(msg(b"{\"inputs\": 3}").contains("invalid type"));
        assert!(msg(b"{}").contains("missing field `inputs`"));
        assert!(msg(b"{\"inputs\": \"\xff\"}").contains("UTF-8"));
        assert!(
            msg(b"{\"inputs\": \"a\", \"parameters\": {\"max_new_tokens\": \"x\"}}")
                .contains("max_new_tokens")
                || msg(b"{\"inputs\": \"a\", \"parameters\": {\"max_new_tokens\": \"x\"}}")
                    .contains("invalid type")
        );
    }

    #[test]
    fn unknown_fields_are_ignored_as_tgi_does() {
        let req: GenerateRequest =
            parse(br#"{"inputs": "a", "parameters": {"nonsense": 1}, "extra": true}"#).unwrap();
        assert_eq!(req.inputs, "a");
    }
}

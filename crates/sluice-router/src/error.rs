//! The crate's one error type and its one mapping to HTTP status and TGI's error shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // Start-up: configuration the router cannot run with.
    #[error("no upstreams: pass --upstream URL (one or more) or --upstream-dns NAME:PORT")]
    NoUpstreams,
    #[error("bad upstream {url:?}: {reason}")]
    BadUpstream { url: String, reason: String },
    #[error("bad --upstream-dns {value:?}: expected NAME:PORT")]
    BadUpstreamDns { value: String },

    // Per request.
    #[error("no healthy replica could take the request")]
    NoReplica,
    #[error("every replica that was tried is overloaded")]
    AllOverloaded,
    #[error("replica {replica} did not answer within {timeout:?}")]
    Timeout { replica: String, timeout: Duration },
    #[error("request body is larger than the payload limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("could not read the request body: {0}")]
    BadBody(String),
    #[error("no route for {0}")]
    NotFound(String),
}

impl Error {
    pub fn status(&self) -> StatusCode {
        match self {
            Error::NoReplica => StatusCode::SERVICE_UNAVAILABLE,
            Error::AllOverloaded => StatusCode::TOO_MANY_REQUESTS,
            Error::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::BadBody(_) => StatusCode::BAD_REQUEST,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::NoUpstreams | Error::BadUpstream { .. } | Error::BadUpstreamDns { .. } => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// TGI's `error_type`: clients branch on it, so it is stable.
    pub fn error_type(&self) -> &'static str {
        match self {
            Error::NoReplica => "unavailable",
            Error::AllOverloaded => "overloaded",
            Error::Timeout { .. } => "timeout",
            Error::PayloadTooLarge { .. } | Error::BadBody(_) => "validation",
            Error::NotFound(_) => "not_found",
            Error::NoUpstreams | Error::BadUpstream { .. } | Error::BadUpstreamDns { .. } => {
                "configuration"
            }
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let body =
            serde_json::json!({ "error": self.to_string(), "error_type": self.error_type() });
        (self.status(), Json(body)).into_response()
    }
}

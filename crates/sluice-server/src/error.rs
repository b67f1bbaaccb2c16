//! One error type for every route, and its two renderings: TGI's `{"error", "error_type"}` and
//! OpenAI's `{"error": {"message", "type", "param", "code"}}`. Statuses follow TGI: 422 for
//! validation, 429 when overloaded, 424 when generation fails, 503 when the engine is gone.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use sluice_core::GenerationError;
use sluice_protocol::{openai, tgi};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    Validation,
    PayloadTooLarge,
    Overloaded,
    Generation,
    Unavailable,
    NotFound,
    Unauthorized,
}

impl ErrorKind {
    fn status(self) -> StatusCode {
        match self {
            ErrorKind::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::Generation => StatusCode::FAILED_DEPENDENCY,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
        }
    }

    /// TGI's `error_type`.
    fn tgi_name(self) -> &'static str {
        match self {
            ErrorKind::Validation | ErrorKind::PayloadTooLarge => "validation",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Generation => "generation",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unauthorized => "authentication",
        }
    }

    /// OpenAI's error `type`.
    fn openai_name(self) -> &'static str {
        match self {
            ErrorKind::Validation | ErrorKind::PayloadTooLarge | ErrorKind::Unauthorized => {
                "invalid_request_error"
            }
            ErrorKind::Overloaded => "rate_limit_error",
            ErrorKind::Generation | ErrorKind::Unavailable => "server_error",
            ErrorKind::NotFound => "not_found_error",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn validation(message: impl Into<String>) -> Self {
        ApiError {
            kind: ErrorKind::Validation,
            message: message.into(),
        }
    }

    pub fn overloaded() -> Self {
        ApiError {
            kind: ErrorKind::Overloaded,
            message: "Model is overloaded".into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    pub fn tgi_body(&self) -> tgi::ErrorResponse {
        tgi::ErrorResponse {
            error: self.message.clone(),
            error_type: self.kind.tgi_name().into(),
        }
    }

    pub fn openai_body(&self) -> openai::ErrorResponse {
        openai::ErrorResponse {
            error: openai::ErrorDetail {
                message: self.message.clone(),
                kind: self.kind.openai_name().into(),
                param: None,
                code: Some(match self.kind {
                    ErrorKind::Unauthorized => "invalid_api_key".into(),
                    _ => self.status().as_u16().to_string(),
                }),
            },
        }
    }
}

impl From<GenerationError> for ApiError {
    fn from(e: GenerationError) -> Self {
        let kind = match e {
            // Validation bounds requests by the cache's size, so this is a configuration slip.
            GenerationError::TooLargeForCache { .. }
            | GenerationError::BeyondContext { .. }
            | GenerationError::EmptyPrompt
            | GenerationError::TokenOutsideVocabulary { .. }
            | GenerationError::InvalidConstraint(_) => ErrorKind::Validation,
            GenerationError::StepFailed { .. } => ErrorKind::Generation,
            GenerationError::EngineStopped => ErrorKind::Unavailable,
        };
        ApiError {
            kind,
            message: e.to_string(),
        }
    }
}

/// TGI routes render errors in TGI's shape.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status(), Json(self.tgi_body())).into_response()
    }
}

/// The same error, rendered for an OpenAI route.
#[derive(Debug)]
pub struct OpenAiError(pub ApiError);

impl From<ApiError> for OpenAiError {
    fn from(e: ApiError) -> Self {
        OpenAiError(e)
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        (self.0.status(), Json(self.0.openai_body())).into_response()
    }
}

//! Every byte on the wire: the request and response bodies of TGI's native API and of the
//! OpenAI-compatible API, and the error shapes of both.
//!
//! Requests are lenient the way TGI and vLLM are: unknown fields are ignored, and every
//! optional field also accepts `null` (Python clients send `None` as `null`). Validation of
//! values happens in the server, which turns these into `sluice_core` types.

pub mod openai;
pub mod tgi;

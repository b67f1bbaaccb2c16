//! Every byte on the wire: TGI's and OpenAI's request and response bodies and error shapes.
//! May import serde; never another sluice crate.
//!
//! Requests are lenient the way TGI and vLLM are: unknown fields are ignored, and every
//! optional field also accepts `null` (Python clients send `None` as `null`). Validation of
//! values happens in the server, which turns these into `sluice_core` types.

pub mod auth;
pub mod openai;
pub mod structured;
pub mod tgi;
pub mod tools;

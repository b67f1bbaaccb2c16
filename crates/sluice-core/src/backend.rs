//! What the HTTP layer needs from an engine. The server is generic over this trait, so it never
//! links the engine (and tests can drive it with a fake).

use crate::{
    EngineStats, GenerationError, GenerationRequest, RequestId, SamplingDefaults, TokenEvent,
};
use std::future::Future;
use tokio::sync::mpsc::UnboundedReceiver;

/// One request's events: tokens, the last carrying `finish`, or an error. Dropping the receiver
/// aborts the request and frees its cache blocks.
pub type EventStream = UnboundedReceiver<Result<TokenEvent, GenerationError>>;

/// Facts about the served model and the engine's capacity, as `/info` reports them.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// What the user asked for (`--model-id`): an alias or a path.
    pub model_id: String,
    pub architecture: String,
    /// Storage type of the weights, e.g. `q4_1`.
    pub quantization: String,
    /// Where the model runs (`cpu`).
    pub device: String,
    /// Type the activations are computed in.
    pub dtype: String,
    /// Type of the KV cache's values.
    pub kv_cache_dtype: String,
    /// The model's trained context length.
    pub context_length: usize,
    /// Tokens the KV cache holds over all running requests.
    pub kv_capacity_tokens: usize,
    /// The sampling settings the model comes with, for requests that leave them unset.
    pub sampling_defaults: SamplingDefaults,
    /// The most tokens speculative decoding proposes per sequence and step (0: off), and
    /// where they come from.
    pub speculate: usize,
    pub speculation_method: Option<String>,
}

/// Why a text could not become a prompt. The server answers each with 422 and its message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    /// The tokenizer refused the text; the reason is its own.
    #[error("{0}")]
    Tokenize(String),
    #[error("the model has no chat template")]
    NoChatTemplate,
    /// The chat template failed to render; the reason is the template engine's (and includes
    /// the text of a template's `raise_exception(...)`).
    #[error("{0}")]
    ChatTemplate(String),
}

/// One chat message, already flattened to text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatTurn {
    pub role: String,
    pub content: String,
}

pub trait Backend: Send + Sync + 'static {
    fn info(&self) -> &ModelInfo;

    /// Prompt text to token ids, with the model's BOS rule and special tokens parsed.
    fn tokenize(&self, text: &str) -> Result<Vec<u32>, PromptError>;

    /// The bytes one token contributes to text (part of a UTF-8 character for byte tokens).
    fn token_bytes(&self, id: u32) -> Vec<u8>;

    /// Whether the token is a control token (BOS, EOS, chat markers).
    fn is_special(&self, id: u32) -> bool;

    /// Renders a conversation with the model's chat template into prompt text; `tools`
    /// (OpenAI's list of function definitions) go to templates that take them.
    fn chat_prompt(
        &self,
        turns: &[ChatTurn],
        tools: Option<&serde_json::Value>,
    ) -> Result<String, PromptError>;

    /// Whether the chat template renders `tools` itself; when it does not, the server writes
    /// them into the conversation.
    fn chat_template_takes_tools(&self) -> bool;

    fn next_request_id(&self) -> RequestId;

    /// Queues a validated request.
    fn submit(&self, req: GenerationRequest) -> Result<EventStream, GenerationError>;

    fn stats(&self) -> impl Future<Output = Result<EngineStats, GenerationError>> + Send;
}

use std::fmt;

/// Why a sequence finished. `Display` gives TGI's spelling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FinishReason {
    /// `max_new_tokens` reached.
    Length,
    /// The model produced an end-of-generation token.
    EosToken,
    /// A stop sequence matched the generated text.
    StopSequence,
}

impl FinishReason {
    /// OpenAI's `finish_reason` spelling.
    pub fn openai(self) -> &'static str {
        match self {
            FinishReason::Length => "length",
            FinishReason::EosToken | FinishReason::StopSequence => "stop",
        }
    }
}

impl fmt::Display for FinishReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FinishReason::Length => "length",
            FinishReason::EosToken => "eos_token",
            FinishReason::StopSequence => "stop_sequence",
        })
    }
}

/// One generated token, as it leaves the engine.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenEvent {
    pub token_id: u32,
    /// The text this token adds to the output. It may be empty while a UTF-8 character or a
    /// possible stop sequence is still incomplete; the held-back text arrives with a later token.
    pub text: String,
    /// Log-probability of the token under the model's distribution (before sampling filters).
    pub logprob: f32,
    pub special: bool,
    /// Set on the last event of a sequence.
    pub finish: Option<FinishReason>,
    /// The `LogprobOptions::top_n` most likely tokens at this step with their logprobs, best first.
    pub top_logprobs: Vec<(u32, f32)>,
    /// On the first event of a request that asked for them: the logprob of each prompt token
    /// after the first, given the tokens before it.
    pub prompt_logprobs: Option<Vec<f32>>,
}

/// A failure that ends one request; the engine keeps serving the others.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GenerationError {
    #[error("the request can never fit in the KV cache: it needs {needed} tokens, the cache holds {capacity}")]
    TooLargeForCache { needed: usize, capacity: usize },
    #[error(
        "the request needs {needed} tokens, beyond the model's context length {context_length}"
    )]
    BeyondContext {
        needed: usize,
        context_length: usize,
    },
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// A token of the prompt or of `logit_bias`.
    #[error("token id {token} is outside the vocabulary ({vocab_size} tokens)")]
    TokenOutsideVocabulary { token: u32, vocab_size: usize },
    /// The model could not run a step that held this request (every request of that step
    /// fails with it); `reason` is the model's own message.
    #[error("model step failed: {reason}")]
    StepFailed { reason: String },
    /// The request's output constraint (schema, regex, grammar) does not compile; the reason
    /// is the grammar compiler's own.
    #[error("{0}")]
    InvalidConstraint(String),
    #[error("the engine has shut down")]
    EngineStopped,
}

//! What the bench keeps of one request.

use serde::{Deserialize, Serialize};

/// Where a token count came from. Reports say which, because estimates are not comparable
/// with counts across engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// The server's own count: TGI `details.generated_tokens` / `x-prompt-tokens`, OpenAI `usage`.
    Server,
    /// Counted from the stream: one per TGI token event or OpenAI chunk carrying text. Exact for
    /// servers that send one token per event; an undercount where a chunk carries several
    /// (e.g. speculative decoding in vLLM).
    StreamEvents,
    /// Counted before the run by the server's own tokenizer (`POST /tokenize`), for servers
    /// that do not report prompt tokens per request.
    ServerTokenizer,
    /// Estimated from text: the random dataset's requested length for prompts, otherwise one
    /// token per 4 bytes of UTF-8 (the usual rule of thumb for English with BPE tokenizers).
    Estimate,
}

impl TokenSource {
    pub fn name(self) -> &'static str {
        match self {
            TokenSource::Server => "server",
            TokenSource::StreamEvents => "stream_events",
            TokenSource::ServerTokenizer => "server_tokenizer",
            TokenSource::Estimate => "estimate",
        }
    }
}

/// Why a request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No complete response within `--timeout`.
    Timeout,
    /// The TCP connection could not be made.
    Connect,
    /// The server answered with a non-2xx status.
    Http(u16),
    /// The response ended early: the connection dropped, or the stream closed before its final
    /// event (`data: [DONE]`, or TGI's event carrying `generated_text`).
    Incomplete,
    /// The server reported an error inside a 200 response or stream.
    ServerError,
    /// The response could not be read as the API's JSON.
    BadResponse,
}

impl ErrorKind {
    /// The key errors are counted under in reports: `timeout`, `http_503`, ...
    pub fn key(self) -> String {
        match self {
            ErrorKind::Timeout => "timeout".into(),
            ErrorKind::Connect => "connect".into(),
            ErrorKind::Http(code) => format!("http_{code}"),
            ErrorKind::Incomplete => "incomplete".into(),
            ErrorKind::ServerError => "server_error".into(),
            ErrorKind::BadResponse => "bad_response".into(),
        }
    }
}

/// One request's timings and counts. Times are seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Index of the prompt in the dataset.
    pub prompt_index: usize,
    /// When the request was sent, from the start of its level.
    pub start_s: f64,
    /// From sending the request to the end of the response (or the failure).
    pub e2e_s: f64,
    /// Time to first token; streamed requests only.
    pub ttft_s: Option<f64>,
    pub output_tokens: u64,
    pub output_token_source: TokenSource,
    pub input_tokens: u64,
    pub input_token_source: TokenSource,
    /// `ErrorKind::key` of the failure; `None` for a success.
    pub error: Option<String>,
    pub error_message: Option<String>,
    /// Gaps between consecutive token-carrying events. Summarised per level, not saved: it is
    /// most of the volume of a run's raw records.
    #[serde(skip)]
    pub itl_s: Vec<f64>,
    /// Times the request was sent again after its connection closed before any response.
    #[serde(default)]
    pub retries: u32,
}

impl RequestRecord {
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// Time per output token after the first: `(e2e - ttft) / (output_tokens - 1)`, as vLLM
    /// defines it. `None` without a TTFT or with fewer than two tokens.
    pub fn tpot_s(&self) -> Option<f64> {
        let ttft = self.ttft_s?;
        (self.output_tokens > 1).then(|| (self.e2e_s - ttft) / (self.output_tokens - 1) as f64)
    }
}

//! Sends one request and times it: TTFT, inter-token gaps and end-to-end latency.

use crate::api::{ApiKind, RequestSpec};
use crate::record::{ErrorKind, RequestRecord, TokenSource};
use crate::sse::SseLines;
use crate::wire::{self, Payload};
use std::time::{Duration, Instant};

/// A request ready to send: the body is serialised before the level starts, so building JSON
/// is not part of what is timed or of the load generator's per-request work.
#[derive(Clone)]
pub struct PreparedRequest {
    pub prompt_index: usize,
    pub body: Vec<u8>,
    pub max_new_tokens: u32,
    /// The prompt's length and where it comes from (the server's tokenizer or the dataset's
    /// estimate), used when the server does not report prompt tokens with the response.
    pub input_tokens: (u64, TokenSource),
}

/// How requests are sent to one server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    url: String,
    api: ApiKind,
    stream: bool,
    timeout: Duration,
}

type Failure = (ErrorKind, String);

impl Client {
    pub fn new(base_url: &str, api: ApiKind, stream: bool, timeout: Duration) -> Self {
        Self {
            http: http_client(),
            url: format!("{}{}", base_url.trim_end_matches('/'), api.path(stream)),
            api,
            stream,
            timeout,
        }
    }

    pub fn prepare(
        &self,
        prompt_index: usize,
        spec: &RequestSpec,
        input_tokens: (u64, TokenSource),
    ) -> PreparedRequest {
        PreparedRequest {
            prompt_index,
            body: self.api.body(spec).to_string().into_bytes(),
            max_new_tokens: spec.max_new_tokens,
            input_tokens,
        }
    }

    /// Sends `req` and records what happened; failures are recorded, never returned.
    ///
    /// A request whose connection closes before any response is sent once more on a fresh
    /// connection: that is a pooled keep-alive connection the server closed as we reused it
    /// (llama-server and uvicorn close idle or much-used connections), an artifact of the
    /// client, not a server failure. The record counts the retry and times the last attempt.
    pub async fn send(&self, req: &PreparedRequest, level_start: Instant) -> RequestRecord {
        let mut retries = 0;
        loop {
            let mut m = Measure::new(Instant::now(), req.max_new_tokens as usize);
            let failure = match tokio::time::timeout(self.timeout, self.exchange(req, &mut m)).await
            {
                Err(_) => Some((
                    ErrorKind::Timeout,
                    format!("no complete response within {:?}", self.timeout),
                )),
                Ok(r) => r.err(),
            };
            let stale_connection =
                matches!(failure, Some((ErrorKind::Incomplete, _))) && !m.responded;
            if stale_connection && retries == 0 {
                retries += 1;
                continue;
            }
            let mut record = m.into_record(req, level_start, self.stream, failure);
            record.retries = retries;
            return record;
        }
    }

    async fn exchange(&self, req: &PreparedRequest, m: &mut Measure) -> Result<(), Failure> {
        let resp = self
            .http
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(req.body.clone())
            .send()
            .await
            .map_err(classify)?;
        m.responded = true;
        let status = resp.status();
        // TGI reports the prompt length in a header of `/generate` responses.
        m.server_prompt = resp
            .headers()
            .get("x-prompt-tokens")
            .and_then(|v| v.to_str().ok()?.parse().ok());
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            return Err((ErrorKind::Http(status.as_u16()), one_line(&body)));
        }
        if self.stream {
            self.read_stream(resp, m).await?;
        } else {
            let body = resp.bytes().await.map_err(classify)?;
            let p = self
                .api
                .parse(&body, false)
                .map_err(|e| (ErrorKind::BadResponse, wire::bad_payload(&e, &body)))?;
            m.absorb(&p);
        }
        if let Some(msg) = m.server_error.take() {
            return Err((ErrorKind::ServerError, one_line(&msg)));
        }
        if !m.done {
            return Err((
                ErrorKind::Incomplete,
                "the stream closed before its final event".into(),
            ));
        }
        Ok(())
    }

    async fn read_stream(
        &self,
        mut resp: reqwest::Response,
        m: &mut Measure,
    ) -> Result<(), Failure> {
        let mut sse = SseLines::default();
        let mut bad = None;
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            let now = Instant::now();
            let more = sse.push(&chunk, |data| {
                if data == b"[DONE]" {
                    m.done = true;
                    return false;
                }
                match self.api.parse(data, true) {
                    Ok(p) => {
                        m.on_event(&p, now);
                        m.server_error.is_none()
                    }
                    Err(e) => {
                        bad = Some(wire::bad_payload(&e, data));
                        false
                    }
                }
            });
            if let Some(msg) = bad {
                return Err((ErrorKind::BadResponse, msg));
            }
            if !more || (m.done && self.api == ApiKind::Tgi) {
                break;
            }
        }
        Ok(())
    }
}

/// One HTTP/1.1 connection pool for all requests, idle connections dropped after 4 s; no client-side timeout (ours wraps the whole
/// exchange) and no Nagle delay on the small request bodies.
fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        // Below the 5 s keep-alive timeout of uvicorn (vLLM) and cpp-httplib (llama-server),
        // so that we drop idle connections before the server does.
        .pool_idle_timeout(Duration::from_secs(4))
        .pool_max_idle_per_host(usize::MAX)
        .build()
        .expect("an HTTP client with default TLS settings always builds")
}

fn classify(e: reqwest::Error) -> Failure {
    let kind = if e.is_connect() {
        ErrorKind::Connect
    } else if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Incomplete
    };
    (kind, one_line(&error_chain(&e)))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

fn one_line(s: &str) -> String {
    let line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(200).collect()
}

/// Running state of one request's measurement.
struct Measure {
    start: Instant,
    first: Option<Instant>,
    last: Option<Instant>,
    itl_s: Vec<f64>,
    token_events: u64,
    text_bytes: usize,
    server_output: Option<u64>,
    server_prompt: Option<u64>,
    server_error: Option<String>,
    done: bool,
    /// Response headers arrived.
    responded: bool,
}

impl Measure {
    fn new(start: Instant, expected_tokens: usize) -> Self {
        Self {
            start,
            first: None,
            last: None,
            itl_s: Vec::with_capacity(expected_tokens),
            token_events: 0,
            text_bytes: 0,
            server_output: None,
            server_prompt: None,
            server_error: None,
            done: false,
            responded: false,
        }
    }

    fn on_event(&mut self, p: &Payload, now: Instant) {
        if p.token_events > 0 {
            match self.last {
                None => self.first = Some(now),
                Some(last) => self.itl_s.push((now - last).as_secs_f64()),
            }
            self.last = Some(now);
            self.token_events += u64::from(p.token_events);
        }
        self.absorb(p);
    }

    /// Counts, final flags and errors; timing is only known for streamed events.
    fn absorb(&mut self, p: &Payload) {
        self.text_bytes += p.text_bytes;
        self.server_output = p.output_tokens.or(self.server_output);
        self.server_prompt = p.prompt_tokens.or(self.server_prompt);
        self.done |= p.done;
        if p.error.is_some() {
            self.server_error.clone_from(&p.error);
        }
    }

    fn into_record(
        self,
        req: &PreparedRequest,
        level_start: Instant,
        streamed: bool,
        failure: Option<Failure>,
    ) -> RequestRecord {
        let end = Instant::now();
        let (output_tokens, output_token_source) = match self.server_output {
            Some(n) => (n, TokenSource::Server),
            None if streamed => (self.token_events, TokenSource::StreamEvents),
            None => ((self.text_bytes as u64).div_ceil(4), TokenSource::Estimate),
        };
        let (input_tokens, input_token_source) = match self.server_prompt {
            Some(n) => (n, TokenSource::Server),
            None => req.input_tokens,
        };
        let (error, error_message) = match failure {
            Some((kind, msg)) => (Some(kind.key()), Some(msg)),
            None => (None, None),
        };
        RequestRecord {
            prompt_index: req.prompt_index,
            start_s: (self.start - level_start).as_secs_f64(),
            e2e_s: (end - self.start).as_secs_f64(),
            ttft_s: self.first.map(|t| (t - self.start).as_secs_f64()),
            output_tokens,
            output_token_source,
            input_tokens,
            input_token_source,
            error,
            error_message,
            itl_s: self.itl_s,
            retries: 0,
        }
    }
}

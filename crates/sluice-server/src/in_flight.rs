//! Admission and per-request accounting. A request holds an [`InFlight`] from admission until
//! its response (or stream) is done: the permit bounds concurrency, and the timings it
//! gathers become the request's metrics when it is dropped.

use crate::metrics::Metrics;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::OwnedSemaphorePermit;

pub struct InFlight {
    _permit: OwnedSemaphorePermit,
    metrics: Arc<Metrics>,
    admitted: Instant,
    first_token: Option<Instant>,
    last_token: Option<Instant>,
    /// Set once validation passed and the engine has the request.
    input_tokens: Option<usize>,
    output_tokens: usize,
    finished: bool,
}

impl InFlight {
    pub fn new(permit: OwnedSemaphorePermit, metrics: Arc<Metrics>) -> Self {
        metrics.in_flight.inc();
        InFlight {
            _permit: permit,
            metrics,
            admitted: Instant::now(),
            first_token: None,
            last_token: None,
            input_tokens: None,
            output_tokens: 0,
            finished: false,
        }
    }

    /// The engine has the request, whose prompt has `input_tokens` tokens.
    pub fn submitted(&mut self, input_tokens: usize) {
        self.input_tokens = Some(input_tokens);
    }

    pub fn on_token(&mut self) {
        let now = Instant::now();
        self.first_token.get_or_insert(now);
        self.last_token = Some(now);
        self.output_tokens += 1;
    }

    /// The response is complete (or failed in the engine), as opposed to abandoned by its
    /// client.
    pub fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let m = &self.metrics;
        m.in_flight.dec();
        let Some(input_tokens) = self.input_tokens else {
            return; // rejected by validation
        };
        if !self.finished {
            m.aborted.inc();
            return;
        }
        m.request_duration
            .observe(self.admitted.elapsed().as_secs_f64());
        m.input_tokens.observe(input_tokens as f64);
        m.output_tokens.observe(self.output_tokens as f64);
        if let (Some(first), Some(last)) = (self.first_token, self.last_token) {
            m.time_to_first_token
                .observe((first - self.admitted).as_secs_f64());
            if self.output_tokens > 1 {
                let per_token = (last - first).as_secs_f64() / (self.output_tokens - 1) as f64;
                m.time_per_output_token.observe(per_token);
            }
        }
    }
}

use crate::{Constraint, RequestId, SamplingParams, StopCriteria};

/// A validated request as the engine receives it: the prompt is already tokenized.
#[derive(Clone, Debug)]
pub struct GenerationRequest {
    pub id: RequestId,
    pub prompt_ids: Vec<u32>,
    pub sampling: SamplingParams,
    pub stop: StopCriteria,
    pub logprobs: LogprobOptions,
    /// The shape the output must have, when the request asks for one.
    pub constraint: Option<Constraint>,
}

/// Extra log-probabilities a request asks for (each costs work, so they are off by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogprobOptions {
    /// The most likely alternatives reported with every generated token.
    pub top_n: usize,
    /// Log-probability of every prompt token given the ones before it (TGI's
    /// `decoder_input_details`). Such a request bypasses the prefix cache, whose hits skip
    /// the computation.
    pub prompt: bool,
}

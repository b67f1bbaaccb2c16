use crate::{RequestId, SamplingParams, StopCriteria};

/// A validated request as the engine receives it: the prompt is already tokenized.
#[derive(Clone, Debug)]
pub struct GenerationRequest {
    pub id: RequestId,
    pub prompt_ids: Vec<u32>,
    pub sampling: SamplingParams,
    pub stop: StopCriteria,
}

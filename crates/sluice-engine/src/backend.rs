//! The engine as the server sees it: [`Backend`] over the engine thread and a copy of the
//! tokenizer, so tokenizing and validation run on the server's threads, never the engine's.

use crate::{Engine, EngineHandle};
use sluice_core::{
    Backend, ChatTurn, EngineStats, EventStream, GenerationError, GenerationRequest, ModelInfo,
    PromptError, RequestId,
};
use sluice_tokenizer::{ChatMessage, Tokenizer, TokenizerError};

pub struct LocalBackend {
    handle: EngineHandle,
    tokenizer: Tokenizer,
    info: ModelInfo,
}

impl LocalBackend {
    /// Starts the engine thread.
    pub fn spawn(engine: Engine) -> std::io::Result<Self> {
        let info = engine.info().clone();
        let tokenizer = engine.tokenizer().clone();
        Ok(LocalBackend {
            handle: EngineHandle::spawn(engine)?,
            tokenizer,
            info,
        })
    }
}

impl Backend for LocalBackend {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn tokenize(&self, text: &str) -> Result<Vec<u32>, PromptError> {
        self.tokenizer
            .encode(text, true)
            .map_err(|e| PromptError::Tokenize(e.to_string()))
    }

    fn token_bytes(&self, id: u32) -> Vec<u8> {
        self.tokenizer.token_bytes(id)
    }

    fn is_special(&self, id: u32) -> bool {
        self.tokenizer.is_special(id)
    }

    fn chat_prompt(
        &self,
        turns: &[ChatTurn],
        tools: Option<&serde_json::Value>,
    ) -> Result<String, PromptError> {
        let messages: Vec<ChatMessage> = turns
            .iter()
            .map(|t| ChatMessage {
                role: t.role.clone(),
                content: t.content.clone(),
            })
            .collect();
        self.tokenizer
            .apply_chat_template(&messages, tools, true)
            .map_err(|e| match e {
                TokenizerError::NoChatTemplate => PromptError::NoChatTemplate,
                other => PromptError::ChatTemplate(other.to_string()),
            })
    }

    fn chat_template_takes_tools(&self) -> bool {
        self.tokenizer
            .chat_template()
            .is_some_and(|t| t.takes_tools())
    }

    fn next_request_id(&self) -> RequestId {
        self.handle.next_request_id()
    }

    fn submit(&self, req: GenerationRequest) -> Result<EventStream, GenerationError> {
        self.handle.submit(req)
    }

    async fn stats(&self) -> Result<EngineStats, GenerationError> {
        self.handle.stats_async().await
    }
}

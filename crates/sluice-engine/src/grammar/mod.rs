//! Constrained decoding (structured output): a request's [`Constraint`] compiled by llguidance
//! into a [`Grammar`] that says, before each token is chosen, which tokens may come next.
//!
//! llguidance is the library llama.cpp, vLLM and SGLang use for this: an Earley parser over a
//! lexer and the vocabulary's token trie, rather than a pass over the vocabulary per grammar
//! state; it compiles JSON schemas, regexes and Lark grammars itself. docs/structured-output.md
//! has what the masks cost end to end.

mod vocabulary;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::SimpleVob;
use llguidance::{Matcher, ParserFactory};
use sluice_core::{Constraint, GenerationError};
use sluice_tokenizer::Tokenizer;
use std::sync::OnceLock;

/// Which tokens may come next: one bit per vocabulary entry.
pub type TokenMask = SimpleVob;

/// Compiles constraints for one model's vocabulary. The vocabulary's trie is built on the
/// first constrained request, so servers that never see one never pay for it.
pub struct Grammars {
    tokenizer: Tokenizer,
    factory: OnceLock<Result<ParserFactory, String>>,
}

impl Grammars {
    pub fn new(tokenizer: Tokenizer) -> Self {
        Grammars {
            tokenizer,
            factory: OnceLock::new(),
        }
    }

    /// The grammar for `constraint`, or why it does not compile (the server answers 422).
    pub fn compile(&self, constraint: &Constraint) -> Result<Grammar, GenerationError> {
        let factory = self
            .factory
            .get_or_init(|| {
                let mut factory =
                    ParserFactory::new_simple(&vocabulary::token_env(&self.tokenizer))
                        .map_err(|e| format!("cannot build the vocabulary's token trie: {e}"))?;
                factory.quiet();
                Ok(factory)
            })
            .as_ref()
            .map_err(|e| GenerationError::InvalidConstraint(e.clone()))?;
        let parser = factory
            .create_parser(top_level(constraint))
            .map_err(|e| GenerationError::InvalidConstraint(invalid(constraint, &e)))?;
        Ok(Grammar {
            matcher: Matcher::new(Ok(parser)),
        })
    }
}

fn invalid(constraint: &Constraint, error: &impl std::fmt::Display) -> String {
    format!("invalid {}: {error}", constraint.kind().replace('_', " "))
}

/// llguidance's grammar for a constraint. JSON is compact as models write it
/// (`{"a": 1, "b": [2, 3]}`): with free whitespace, a small model can fill its whole budget
/// with newlines before the first key.
fn top_level(constraint: &Constraint) -> TopLevelGrammar {
    match constraint {
        Constraint::JsonSchema(schema) => {
            let mut schema = schema.clone();
            if let Some(object) = schema.as_object_mut() {
                object.insert(
                    "x-guidance".into(),
                    serde_json::json!({
                        "whitespace_flexible": false,
                        "item_separator": ", ",
                        "key_separator": ": ",
                    }),
                );
            }
            TopLevelGrammar::from_json_schema(schema)
        }
        Constraint::Regex(regex) => TopLevelGrammar::from_regex(regex),
        Constraint::Choice(choices) => {
            // Lark string literals take JSON's quoting.
            let alternatives: Vec<String> = choices
                .iter()
                .map(|c| serde_json::Value::from(c.as_str()).to_string())
                .collect();
            TopLevelGrammar::from_lark(format!("start: {}", alternatives.join(" | ")))
        }
        Constraint::Lark(grammar) => TopLevelGrammar::from_lark(grammar.clone()),
    }
}

/// One sequence's position in its grammar.
pub struct Grammar {
    matcher: Matcher,
}

impl Grammar {
    /// How many of `proposals` (speculative tokens, in order) the grammar allows.
    pub fn allowed_prefix(&mut self, proposals: &[u32]) -> usize {
        self.matcher.validate_tokens(proposals).unwrap_or(0)
    }

    /// The masks for `rows` consecutive choices: row `i` chooses the token after
    /// `proposals[..i]` (a decode checks its proposals and chooses one token more). The
    /// grammar is left where it was.
    pub fn masks(&mut self, proposals: &[u32], rows: usize) -> Result<Vec<TokenMask>, String> {
        let mut masks = Vec::with_capacity(rows);
        let mut consumed = 0;
        for i in 0..rows {
            masks.push(
                self.matcher
                    .compute_mask_or_eos()
                    .map_err(|e| e.to_string())?,
            );
            if let Some(&token) = proposals.get(i).filter(|_| i + 1 < rows) {
                self.matcher
                    .consume_token(token)
                    .map_err(|e| e.to_string())?;
                consumed += 1;
            }
        }
        self.matcher.rollback(consumed).map_err(|e| e.to_string())?;
        Ok(masks)
    }

    /// Moves past a chosen token.
    pub fn accept(&mut self, token: u32) -> Result<(), String> {
        if self.matcher.is_stopped() {
            // Only end-of-generation tokens were allowed; nothing follows them.
            return Ok(());
        }
        self.matcher.consume_token(token).map_err(|e| e.to_string())
    }
}

//! Stop sequences, matched on the generated text rather than on tokens: tokenizers split the
//! same text in many ways, so `"\n\n"` may arrive as one token, two, or glued to a word.
//!
//! Text that might be the start of a stop sequence is held back until the next deltas decide it,
//! so a client never sees a stop sequence (or part of one) that is later cut. Only that
//! held-back tail plus the newest delta is ever searched, never the whole output.

#[cfg(test)]
mod tests;

/// What [`StopMatcher::push`] lets through.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StopOutcome {
    /// Text safe to emit now.
    pub emit: String,
    /// Index (into the list given to [`StopMatcher::new`]) of the stop sequence that matched.
    pub matched: Option<usize>,
}

/// Watches one sequence's output for its stop sequences.
///
/// The output is cut where the first stop sequence is *completed* (if several complete at the
/// same character, the longest, i.e. the one starting earliest, wins). That is what a streaming
/// client can observe, and it makes the result independent of how the text is split into
/// deltas. Among stop sequences found in the same delta this means the earliest in the text
/// wins.
#[derive(Clone, Debug)]
pub struct StopMatcher {
    /// Non-empty stop sequences with their index in the caller's list (an empty stop sequence
    /// would match before any text and is ignored).
    stops: Vec<(usize, String)>,
    /// Output not yet emitted: always a proper prefix of some stop sequence, so shorter than the
    /// longest one.
    held: String,
    /// Set once a stop sequence matched: everything after it is dropped.
    stopped: bool,
}

impl StopMatcher {
    pub fn new(stop_sequences: &[String]) -> Self {
        let stops = stop_sequences
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(i, s)| (i, s.clone()))
            .collect();
        StopMatcher {
            stops,
            held: String::new(),
            stopped: false,
        }
    }

    /// Feeds the text delta of the newest token. Returns the text that can be emitted now and,
    /// on a match, which stop sequence matched: the output is then cut right before it (the stop
    /// text is not emitted, as TGI and OpenAI do), and anything after it — including later
    /// pushes — is dropped.
    pub fn push(&mut self, delta: &str) -> StopOutcome {
        if self.stopped {
            return StopOutcome::default();
        }
        if self.stops.is_empty() {
            return StopOutcome {
                emit: delta.to_owned(),
                matched: None,
            };
        }
        self.held.push_str(delta);
        // `held` had no complete match before this delta, so any match here ends inside it.
        if let Some((start, index)) = self.first_completed() {
            self.held.truncate(start);
            self.stopped = true;
            return StopOutcome {
                emit: std::mem::take(&mut self.held),
                matched: Some(index),
            };
        }
        let keep = self.longest_pending_prefix();
        let emit = self.held[..self.held.len() - keep].to_owned();
        self.held.drain(..self.held.len() - keep);
        StopOutcome {
            emit,
            matched: None,
        }
    }

    /// At the end of generation (length limit or end-of-sequence token): releases the text held
    /// back, since no stop sequence can complete any more.
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// The start of the stop sequence completed first in `held`, and its caller-side index.
    fn first_completed(&self) -> Option<(usize, usize)> {
        self.stops
            .iter()
            .filter_map(|(index, stop)| {
                self.held
                    .find(stop.as_str())
                    .map(|start| (start, stop.len(), *index))
            })
            .min_by_key(|&(start, len, _)| (start + len, start))
            .map(|(start, _, index)| (start, index))
    }

    /// Length in bytes of the longest suffix of `held` that is a proper prefix of a stop
    /// sequence. Comparing bytes is enough to respect char boundaries: `held` ends on a whole
    /// char, and the matched suffix starts with a stop sequence's first byte, which is a char's
    /// first byte.
    fn longest_pending_prefix(&self) -> usize {
        let held = self.held.as_bytes();
        self.stops
            .iter()
            .filter_map(|(_, stop)| {
                let longest = (stop.len() - 1).min(held.len());
                (1..=longest)
                    .rev()
                    .find(|&n| held.ends_with(&stop.as_bytes()[..n]))
            })
            .max()
            .unwrap_or(0)
    }
}

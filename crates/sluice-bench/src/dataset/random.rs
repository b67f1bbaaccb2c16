//! Synthetic prompts with chosen input and output length distributions, like vLLM's `random`
//! dataset: lengths uniform in `[len * (1 - ratio), len * (1 + ratio)]`, seeded.

use super::Prompt;
use rand::{Rng, SeedableRng};

/// Common short English words. With the BPE tokenizers of current models each word with its
/// leading space is one token, so a prompt of N words is close to N tokens: that is the
/// estimate recorded when the server does not report prompt tokens.
const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by",
    "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an",
    "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has", "there",
    "been", "if", "more", "when", "will", "would", "who", "so", "no", "time", "people", "water",
    "day", "year", "way", "world", "life", "hand", "part", "child", "eye", "place", "work", "week",
    "case", "point", "number", "group", "problem", "fact", "house", "river", "light", "stone",
    "road", "city", "tree", "music", "book", "table", "door", "night", "morning", "green", "small",
    "large", "old", "new", "long", "great", "little", "good", "high", "right", "left", "early",
    "young", "open", "clear", "free", "full", "cold", "warm", "dark", "bright", "make", "know",
    "take", "see", "come", "think", "look", "want", "give", "use", "find", "tell", "ask", "seem",
    "feel", "try", "leave", "call", "keep", "turn", "start", "show", "hear", "play", "run", "move",
    "live", "bring", "write", "sit", "stand", "lose", "pay", "meet", "learn", "change", "lead",
    "watch", "follow", "stop", "speak", "read", "grow",
];

/// `--random-input-len`, `--random-output-len`, `--random-range-ratio` and `--seed`.
#[derive(Debug, Clone)]
pub struct RandomLengths {
    pub input_len: u32,
    pub output_len: u32,
    pub range_ratio: f64,
    pub seed: u64,
}

impl RandomLengths {
    pub fn prompts(&self, n: usize) -> Vec<Prompt> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(self.seed);
        (0..n)
            .map(|_| {
                let input = self.draw(&mut rng, self.input_len);
                let output = self.draw(&mut rng, self.output_len);
                let words: Vec<&str> = (0..input)
                    .map(|_| WORDS[rng.random_range(0..WORDS.len())])
                    .collect();
                Prompt {
                    text: words.join(" "),
                    max_new_tokens: Some(output),
                    est_input_tokens: u64::from(input),
                }
            })
            .collect()
    }

    fn draw(&self, rng: &mut impl Rng, len: u32) -> u32 {
        let ratio = self.range_ratio.clamp(0.0, 1.0);
        let lo = ((f64::from(len) * (1.0 - ratio)).round() as u32).max(1);
        let hi = ((f64::from(len) * (1.0 + ratio)).round() as u32).max(lo);
        rng.random_range(lo..=hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ratio: f64, seed: u64) -> RandomLengths {
        RandomLengths {
            input_len: 100,
            output_len: 20,
            range_ratio: ratio,
            seed,
        }
    }

    #[test]
    fn fixed_lengths_without_range() {
        for p in spec(0.0, 1).prompts(20) {
            assert_eq!(p.text.split(' ').count(), 100);
            assert_eq!(p.est_input_tokens, 100);
            assert_eq!(p.max_new_tokens, Some(20));
        }
    }

    #[test]
    fn seeded_lengths_within_range() {
        let a = spec(0.5, 3).prompts(200);
        assert_eq!(a, spec(0.5, 3).prompts(200));
        assert_ne!(a, spec(0.5, 4).prompts(200));
        for p in &a {
            assert!((50..=150).contains(&p.est_input_tokens));
            assert!((10..=30).contains(&p.max_new_tokens.unwrap()));
        }
        let distinct: std::collections::HashSet<_> = a.iter().map(|p| p.est_input_tokens).collect();
        assert!(distinct.len() > 20, "lengths vary");
    }
}

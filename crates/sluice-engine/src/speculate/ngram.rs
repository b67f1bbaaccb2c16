//! Prompt lookup: a sequence's next tokens guessed from its own prompt and output, as TGI
//! speculates for models without Medusa heads and vLLM's `ngram` method does. The sequence's
//! last tokens are looked for earlier in it; the tokens that followed them there are proposed.

/// The longest suffix looked for; shorter ones are tried while it has no earlier match.
pub const MAX_NGRAM: usize = 3;

/// Up to `max` tokens proposed to follow `tokens`: what followed the most recent earlier
/// occurrence of the longest suffix of `tokens` (of at most [`MAX_NGRAM`] tokens) that occurs
/// earlier. Nothing when no suffix recurs. Where the continuation runs into the present (the
/// match ends just before the suffix, as in a loop), it goes on as the repetition would: the
/// sequence is taken to repeat with the period between the two occurrences.
pub fn propose(tokens: &[u32], max: usize) -> Vec<u32> {
    let len = tokens.len();
    if max == 0 || len < 2 {
        return Vec::new();
    }
    for n in (1..=MAX_NGRAM.min(len - 1)).rev() {
        let suffix = &tokens[len - n..];
        // Starts of earlier occurrences, most recent first; the suffix itself is excluded.
        let found = (0..len - n).rev().find(|&s| &tokens[s..s + n] == suffix);
        if let Some(start) = found {
            let period = len - n - start;
            return (0..max)
                .map(|i| {
                    let mut j = start + n + i;
                    while j >= len {
                        j -= period;
                    }
                    tokens[j]
                })
                .collect();
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_followed_the_longest_recurring_suffix_is_proposed() {
        // "1 2 3" recurs: what followed it earlier was 7 8.
        assert_eq!(propose(&[1, 2, 3, 7, 8, 9, 1, 2, 3], 2), [7, 8]);
        // The longest suffix wins over a more recent shorter match: "2 3" at 4..6 is more
        // recent, but "1 2 3" at 0..3 is longer.
        assert_eq!(propose(&[1, 2, 3, 7, 2, 3, 5, 1, 2, 3], 1), [7]);
        // Of two occurrences of the same suffix, the most recent.
        assert_eq!(propose(&[4, 5, 1, 4, 6, 4], 2), [6, 4]);
    }

    #[test]
    fn nothing_without_a_match_or_without_room() {
        assert!(propose(&[1, 2, 3, 4], 3).is_empty());
        assert!(propose(&[1, 2, 1], 0).is_empty());
        assert!(propose(&[1], 4).is_empty());
        assert!(propose(&[], 4).is_empty());
    }

    #[test]
    fn a_loop_is_continued_as_it_repeats() {
        // Period 2: "5 6 5 6 5" continues 6 5 6 5.
        assert_eq!(propose(&[5, 6, 5, 6, 5], 4), [6, 5, 6, 5]);
        // One token repeated.
        assert_eq!(propose(&[9, 9], 3), [9, 9, 9]);
        // A match far back is read as it stands, wrapping only past the present.
        assert_eq!(propose(&[1, 2, 3, 1, 2], 4), [3, 1, 2, 3]);
    }
}

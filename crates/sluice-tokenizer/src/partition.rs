//! Cutting special-token texts out of a prompt before BPE sees it.
//!
//! This follows llama.cpp's `tokenizer_st_partition` step for step rather than `tokenizers`'
//! added-token matcher: llama.cpp tries the special tokens longest text first, each over all
//! text left by the previous ones, where `tokenizers` takes the leftmost-longest match. The two
//! differ when special texts overlap, and llama.cpp's ids are the ones models were tested with.

use std::ops::Range;

/// A stretch of the prompt: raw text still to be BPE-encoded, or an already-resolved token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fragment {
    Text(Range<usize>),
    Token(u32),
}

/// Splits `text` at every occurrence of each `(id, text)` in `specials`, in the order given
/// (longest text first, as llama.cpp sorts them). Texts must be non-empty.
pub(crate) fn partition<'a>(
    text: &str,
    specials: impl IntoIterator<Item = (u32, &'a str)>,
) -> Vec<Fragment> {
    let mut fragments = Vec::new();
    if !text.is_empty() {
        fragments.push(Fragment::Text(0..text.len()));
    }
    for (id, needle) in specials {
        let occurs = fragments.iter().any(|fragment| match fragment {
            Fragment::Text(range) => text.get(range.clone()).is_some_and(|t| t.contains(needle)),
            Fragment::Token(_) => false,
        });
        if !occurs {
            continue;
        }
        let mut split = Vec::with_capacity(fragments.len() + 2);
        for fragment in fragments {
            let range = match fragment {
                Fragment::Text(range) => range,
                token => {
                    split.push(token);
                    continue;
                }
            };
            let mut start = range.start;
            for (offset, _) in text.get(range.clone()).unwrap_or("").match_indices(needle) {
                let at = range.start + offset;
                if at > start {
                    split.push(Fragment::Text(start..at));
                }
                split.push(Fragment::Token(id));
                start = at + needle.len();
            }
            if start < range.end {
                split.push(Fragment::Text(start..range.end));
            }
        }
        fragments = split;
    }
    fragments
}

#[cfg(test)]
mod tests {
    use super::*;
    use Fragment::{Text, Token};

    #[test]
    fn splits_every_occurrence_and_keeps_the_text_between() {
        let text = "<a>hi<a><b>x<a>";
        assert_eq!(
            partition(text, [(7, "<a>"), (8, "<b>")]),
            [
                Token(7),
                Text(3..5),
                Token(7),
                Token(8),
                Text(11..12),
                Token(7)
            ]
        );
    }

    #[test]
    fn longer_texts_win_because_they_go_first() {
        // Leftmost-longest matching would take "ab" here; llama.cpp takes "bcd".
        assert_eq!(
            partition("abcd", [(1, "bcd"), (2, "ab")]),
            [Text(0..1), Token(1)]
        );
    }

    #[test]
    fn empty_text_has_no_fragments() {
        assert!(partition("", [(1, "x")]).is_empty());
        assert_eq!(partition("plain", [(1, "x")]), [Text(0..5)]);
    }
}

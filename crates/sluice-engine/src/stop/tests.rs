use proptest::prelude::*;

use super::{StopMatcher, StopOutcome};

fn matcher(stops: &[&str]) -> StopMatcher {
    let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
    StopMatcher::new(&stops)
}

fn emitted(text: &str) -> StopOutcome {
    StopOutcome {
        emit: text.to_owned(),
        matched: None,
    }
}

fn stopped(text: &str, index: usize) -> StopOutcome {
    StopOutcome {
        emit: text.to_owned(),
        matched: Some(index),
    }
}

/// Feeds `deltas` and returns everything emitted (flushed at the end if nothing matched) and
/// the match, if any.
fn run(m: &mut StopMatcher, deltas: &[&str]) -> (String, Option<usize>) {
    let mut out = String::new();
    for delta in deltas {
        let outcome = m.push(delta);
        out.push_str(&outcome.emit);
        if outcome.matched.is_some() {
            return (out, outcome.matched);
        }
    }
    out.push_str(&m.flush());
    (out, None)
}

#[test]
fn stop_sequence_split_over_three_deltas() {
    let mut m = matcher(&["<|end|>"]);
    assert_eq!(m.push("Done.<|"), emitted("Done."));
    assert_eq!(m.push("en"), emitted(""));
    assert_eq!(m.push("d|> trailing"), stopped("", 0));
    assert_eq!(m.flush(), "");
}

#[test]
fn text_before_the_stop_in_the_same_delta_is_emitted() {
    let mut m = matcher(&["STOP"]);
    assert_eq!(m.push("ab"), emitted("ab"));
    assert_eq!(m.push("cSTOPd"), stopped("c", 0));
}

#[test]
fn false_start_releases_held_text() {
    let mut m = matcher(&["Hello"]);
    assert_eq!(m.push("Hel"), emitted(""));
    assert_eq!(m.push("p"), emitted("Help"));
    assert_eq!(m.push(" He"), emitted(" "));
    assert_eq!(m.flush(), "He");
}

#[test]
fn a_false_start_can_hide_a_real_start() {
    let mut m = matcher(&["aab"]);
    assert_eq!(m.push("aa"), emitted(""));
    assert_eq!(m.push("a"), emitted("a"));
    assert_eq!(m.push("b"), stopped("", 0));
}

#[test]
fn earliest_match_in_the_text_wins() {
    let mut m = matcher(&["END", "STOP"]);
    assert_eq!(m.push("abc STOP def END"), stopped("abc ", 1));

    let mut m = matcher(&["END", "STOP"]);
    assert_eq!(m.push("x EN"), emitted("x "));
    assert_eq!(m.push("D STOP"), stopped("", 0));
}

#[test]
fn the_first_completed_stop_wins_and_ties_go_to_the_longest() {
    // "lo w" starts first but "o" completes first.
    assert_eq!(
        run(&mut matcher(&["lo w", "o"]), &["hel", "lo w"]),
        ("hell".into(), Some(1))
    );
    // Both complete at the same character: the longer one cuts more.
    assert_eq!(
        run(&mut matcher(&["c", "abc"]), &["xab", "cd"]),
        ("x".into(), Some(1))
    );
}

#[test]
fn empty_stop_list_passes_text_straight_through() {
    let mut m = matcher(&[]);
    assert_eq!(m.push("Hel"), emitted("Hel"));
    assert_eq!(m.push("lo"), emitted("lo"));
    assert_eq!(m.flush(), "");
}

#[test]
fn empty_stop_strings_are_ignored_but_indices_are_kept() {
    let mut m = matcher(&["", "x"]);
    assert_eq!(m.push("abx"), stopped("ab", 1));
}

#[test]
fn unicode_stop_sequences() {
    let mut m = matcher(&["终了", "🛑"]);
    assert_eq!(m.push("こんにちは終"), emitted("こんにちは終"));
    assert_eq!(m.push("わり终"), emitted("わり"));
    assert_eq!(m.push("了です"), stopped("", 0));

    let mut m = matcher(&["终了", "🛑"]);
    assert_eq!(run(&mut m, &["é", "🛑", "after"]), ("é".into(), Some(1)));
}

#[test]
fn held_text_is_released_by_flush() {
    let mut m = matcher(&["###"]);
    assert_eq!(m.push("a ##"), emitted("a "));
    assert_eq!(m.flush(), "##");
    assert_eq!(m.flush(), "");
}

#[test]
fn nothing_is_emitted_after_a_match() {
    let mut m = matcher(&["."]);
    assert_eq!(m.push("a.b"), stopped("a", 0));
    assert_eq!(m.push("more"), StopOutcome::default());
    assert_eq!(m.flush(), "");
}

#[test]
fn held_text_never_exceeds_the_longest_stop() {
    let mut m = matcher(&["abcd", "xy"]);
    for delta in ["abc", "abc", "ab", "x", "abcab"] {
        m.push(delta);
        assert!(m.held.len() < 4, "held {:?}", m.held);
    }
}

/// Random strings over a small alphabet (with multi-byte chars) so that stop strings occur often.
fn string(alphabet: &[char], len: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    proptest::collection::vec(prop::sample::select(alphabet.to_vec()), len)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Splits `text` at the given char positions (any count, any order, duplicates allowed).
fn chop(text: &str, cuts: &[usize]) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (chars.len() + 1)).collect();
    cuts.push(0);
    cuts.push(chars.len());
    cuts.sort_unstable();
    cuts.windows(2)
        .map(|w| chars[w[0]..w[1]].iter().collect())
        .collect()
}

fn run_chopped(stops: &[String], deltas: &[String]) -> (String, Option<usize>) {
    let deltas: Vec<&str> = deltas.iter().map(String::as_str).collect();
    run(&mut StopMatcher::new(stops), &deltas)
}

proptest! {
    #[test]
    fn emitted_text_is_the_text_before_the_first_stop(
        text in string(&['a', 'b', 'é', '€', '🙂'], 0..40),
        stop in string(&['a', 'b', 'é', '🙂'], 1..5),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let (out, matched) = run_chopped(std::slice::from_ref(&stop), &chop(&text, &cuts));
        match text.find(&stop) {
            Some(at) => prop_assert_eq!((out.as_str(), matched), (&text[..at], Some(0))),
            None => prop_assert_eq!((out.as_str(), matched), (text.as_str(), None)),
        }
    }

    #[test]
    fn the_result_does_not_depend_on_how_text_is_split(
        // Three letters and short stops: overlapping and nested stop sequences are common.
        text in string(&['a', 'b', 'é'], 0..30),
        stops in proptest::collection::vec(string(&['a', 'b', 'é'], 1..4), 1..4),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let one_char_at_a_time: Vec<String> = text.chars().map(String::from).collect();
        prop_assert_eq!(
            run_chopped(&stops, &chop(&text, &cuts)),
            run_chopped(&stops, &one_char_at_a_time)
        );
    }
}

//! Placeholders in launch commands: `{name}` is replaced by the value of the setting `name`.
//!
//! Only `{identifier}` is a placeholder, and not after `$`, so shell syntax passes through:
//! `${VAR:-x}` and JSON such as `'{"method": "ngram"}'` are left as they are.

use anyhow::{bail, Result};
use std::collections::BTreeMap;

/// Names of the placeholders in `template`, in order of appearance.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    scan(template, |piece| {
        if let Piece::Name(n) = piece {
            out.push(n);
        }
    });
    out
}

/// `template` with every placeholder replaced; an unknown name is an error that lists the
/// known ones.
pub fn substitute(template: &str, vars: &BTreeMap<String, String>) -> Result<String> {
    let mut out = String::with_capacity(template.len());
    let mut unknown = None;
    scan(template, |piece| match piece {
        Piece::Text(t) => out.push_str(t),
        Piece::Name(n) => match vars.get(n) {
            Some(v) => out.push_str(v),
            None => {
                unknown.get_or_insert(n);
            }
        },
    });
    if let Some(n) = unknown {
        let known: Vec<&str> = vars.keys().map(String::as_str).collect();
        bail!(
            "unknown placeholder {{{n}}} in `{template}` (known: {})",
            known.join(", ")
        );
    }
    Ok(out)
}

enum Piece<'a> {
    Text(&'a str),
    Name(&'a str),
}

fn scan<'a>(template: &'a str, mut emit: impl FnMut(Piece<'a>)) {
    let bytes = template.as_bytes();
    let mut text_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'{' && (i == 0 || bytes[i - 1] != b'$') {
            if let Some(len) = identifier_len(&template[i + 1..]) {
                if bytes.get(i + 1 + len) == Some(&b'}') {
                    emit(Piece::Text(&template[text_start..i]));
                    emit(Piece::Name(&template[i + 1..i + 1 + len]));
                    i += len + 2;
                    text_start = i;
                    continue;
                }
            }
        }
        i += 1;
    }
    emit(Piece::Text(&template[text_start..]));
}

fn identifier_len(s: &str) -> Option<usize> {
    let len = s
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    (len > 0 && !s.as_bytes()[0].is_ascii_digit()).then_some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn replaces_names_and_leaves_shell_and_json_alone() {
        let t = r#"serve --port {port} --speculate {speculate} ${Q:+--quantize $Q} --cfg '{"n": 1}' {}"#;
        assert_eq!(placeholders(t), vec!["port", "speculate"]);
        let got = substitute(t, &vars(&[("port", "8080"), ("speculate", "2")])).unwrap();
        assert_eq!(
            got,
            r#"serve --port 8080 --speculate 2 ${Q:+--quantize $Q} --cfg '{"n": 1}' {}"#
        );
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = substitute("x {nope}", &vars(&[("port", "1")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown placeholder {nope} in `x {nope}` (known: port)"
        );
    }
}

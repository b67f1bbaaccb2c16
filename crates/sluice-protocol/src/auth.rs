//! `--api-key`: the `Authorization: Bearer KEY` check the server and the router share (TGI's
//! and vLLM's flag). Every route but `/health` and `/metrics` needs it.

/// The key clients must present. Its text is never logged or shown.
#[derive(Clone)]
pub struct ApiKey(String);

/// What a refused request is told.
pub const UNAUTHORIZED: &str =
    "missing or invalid API key: send the header `Authorization: Bearer <key>`";

impl ApiKey {
    /// `None` for an empty key: an empty `--api-key` (or `API_KEY=`) turns the check off.
    pub fn new(key: &str) -> Option<Self> {
        (!key.is_empty()).then(|| ApiKey(key.to_string()))
    }

    /// Whether an `Authorization` header value carries this key (`Bearer` in any case).
    pub fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let Some((scheme, token)) = value.split_at_checked(7) else {
            return false;
        };
        scheme.eq_ignore_ascii_case(b"bearer ") && constant_time_eq(self.0.as_bytes(), token)
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(..)")
    }
}

/// Equality whose time depends only on `key`'s length, not on where `given` first differs,
/// so a client cannot find the key byte by byte by timing refusals.
fn constant_time_eq(key: &[u8], given: &[u8]) -> bool {
    let mut diff = key.len() ^ given.len();
    for (i, &k) in key.iter().enumerate() {
        diff |= usize::from(k ^ given.get(i).copied().unwrap_or(!k));
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bearer_key_passes() {
        let key = ApiKey::new("s3cret").unwrap();
        assert!(key.accepts(Some(b"Bearer s3cret")));
        assert!(key.accepts(Some(b"bearer s3cret")));
        for refused in [
            &b"Bearer s3cre"[..],
            b"Bearer s3cret2",
            b"Bearer S3cret",
            b"Basic s3cret",
            b"s3cret",
            b"Bearer ",
            b"",
        ] {
            assert!(
                !key.accepts(Some(refused)),
                "{:?}",
                String::from_utf8_lossy(refused)
            );
        }
        assert!(!key.accepts(None));
        assert!(ApiKey::new("").is_none());
        assert_eq!(format!("{key:?}"), "ApiKey(..)");
    }
}

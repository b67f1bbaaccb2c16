//! Prefix-aware routing: requests whose prompts start alike go to the same replica, so the
//! prompt's KV blocks are already in that replica's prefix cache.
//!
//! The rule (also in docs/router.md):
//!
//! 1. The routing key is the first `prefix_chars` characters of the prompt (all of it when
//!    shorter). Prompts that share at least that long a prefix (a system prompt, few-shot
//!    examples, a document under discussion) have the same key.
//! 2. The key's *owner* among the candidates is chosen by rendezvous hashing: the candidate
//!    with the highest `hash(replica, key)`. It needs no shared table, every router instance
//!    agrees, and when a replica leaves or comes back only the keys it owns move.
//! 3. The owner gets the request unless it is overloaded: in flight > min in flight over the
//!    candidates + `balance_threshold`. Then the request goes to the least loaded candidate
//!    (ties in turn), and the next request with the key goes back to its owner once it has
//!    caught up.
//!
//! Requests without a prompt (or with an empty one) are routed by least-outstanding.
//!
//! Unlike SGLang's cache-aware policy this keeps no per-replica radix tree of past prompts: a
//! fixed-length key cannot tell how long two prompts' common prefix is beyond `prefix_chars`,
//! but it costs one hash per candidate, holds no state, and needs no eviction.

use super::{Candidate, LeastOutstanding, Policy, RouteContext};

#[derive(Debug)]
pub struct PrefixAware {
    prefix_chars: usize,
    balance_threshold: usize,
    fallback: LeastOutstanding,
}

impl PrefixAware {
    pub fn new(prefix_chars: usize, balance_threshold: usize) -> Self {
        PrefixAware {
            prefix_chars: prefix_chars.max(1),
            balance_threshold,
            fallback: LeastOutstanding::default(),
        }
    }

    fn key<'p>(&self, prompt: &'p str) -> &'p str {
        match prompt.char_indices().nth(self.prefix_chars) {
            Some((end, _)) => &prompt[..end],
            None => prompt,
        }
    }
}

/// FNV-1a over the replica then the key, finished by a 64-bit mixer (splitmix64's) so that
/// near-identical inputs spread. Written out rather than `DefaultHasher` so that ownership does
/// not change with the Rust version.
fn rendezvous_score(replica: &str, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in replica
        .as_bytes()
        .iter()
        .chain([0xff].iter())
        .chain(key.as_bytes())
    {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl Policy for PrefixAware {
    fn select(&self, candidates: &[Candidate<'_>], ctx: &RouteContext<'_>) -> Option<usize> {
        let prompt = ctx.prompt.filter(|p| !p.is_empty());
        let (Some(prompt), Some(min)) = (prompt, candidates.iter().map(|c| c.in_flight).min())
        else {
            return self.fallback.select(candidates, ctx);
        };
        let key = self.key(prompt);
        let owner =
            (0..candidates.len()).max_by_key(|&i| rendezvous_score(candidates[i].key, key))?;
        if candidates[owner].in_flight <= min + self.balance_threshold {
            Some(owner)
        } else {
            self.fallback.select(candidates, ctx)
        }
    }

    fn needs_prompt(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::candidates;
    use super::*;

    fn pick(p: &PrefixAware, loads: &[usize], prompt: &str) -> usize {
        let ctx = RouteContext {
            prompt: Some(prompt),
        };
        p.select(&candidates(loads), &ctx).unwrap()
    }

    const SYSTEM: &str = "You are a helpful assistant for ACME's billing team. ";

    #[test]
    fn prompts_sharing_the_prefix_go_to_one_replica() {
        let p = PrefixAware::new(SYSTEM.len(), 2);
        let owner = pick(&p, &[0, 0, 0], SYSTEM);
        for question in ["Why was I charged twice?", "Refund please", "¿Hola?"] {
            assert_eq!(pick(&p, &[0, 0, 0], &format!("{SYSTEM}{question}")), owner);
        }
    }

    #[test]
    fn different_prefixes_spread_over_replicas() {
        let p = PrefixAware::new(20, 2); // "document number 0000"
        let owners: std::collections::BTreeSet<usize> = (0..40)
            .map(|i| pick(&p, &[0, 0, 0, 0], &format!("document number {i:04} says")))
            .collect();
        assert_eq!(owners.len(), 4);
    }

    #[test]
    fn an_overloaded_owner_sheds_to_the_least_loaded_then_gets_its_keys_back() {
        let p = PrefixAware::new(SYSTEM.len(), 2);
        let owner = pick(&p, &[0, 0, 0], SYSTEM);
        let mut loads = vec![1, 1, 1];
        loads[owner] = 3; // exactly min + threshold: still the owner's
        assert_eq!(pick(&p, &loads, SYSTEM), owner);
        loads[owner] = 4; // past it: the least loaded other replica
        let other = (owner + 1) % 3;
        loads[other] = 0;
        assert_eq!(pick(&p, &loads, SYSTEM), other);
        loads[owner] = 2;
        assert_eq!(pick(&p, &loads, SYSTEM), owner);
    }

    #[test]
    fn when_the_owner_is_gone_only_its_keys_move() {
        let p = PrefixAware::new(8, 100);
        let all = candidates(&[0, 0, 0]);
        let prompts: Vec<String> = (0..30).map(|i| format!("prompt {i:02} ...")).collect();
        let owner = |c: &[Candidate<'static>], prompt: &str| -> &'static str {
            let ctx = RouteContext {
                prompt: Some(prompt),
            };
            c[p.select(c, &ctx).unwrap()].key
        };
        let without_b: Vec<Candidate<'static>> = all
            .iter()
            .copied()
            .filter(|c| c.key != all[1].key)
            .collect();
        for prompt in &prompts {
            let before = owner(&all, prompt);
            if before != all[1].key {
                assert_eq!(owner(&without_b, prompt), before, "{prompt} moved");
            }
        }
    }

    #[test]
    fn no_prompt_means_least_outstanding() {
        let p = PrefixAware::new(8, 0);
        let c = candidates(&[3, 0, 5]);
        assert_eq!(p.select(&c, &RouteContext::default()), Some(1));
        assert_eq!(p.select(&c, &RouteContext { prompt: Some("") }), Some(1));
        assert_eq!(p.select(&[], &RouteContext { prompt: Some("x") }), None);
    }

    #[test]
    fn the_key_is_cut_on_a_char_boundary() {
        let p = PrefixAware::new(2, 0);
        assert_eq!(p.key("ééé"), "éé");
        assert_eq!(p.key("é"), "é");
    }
}

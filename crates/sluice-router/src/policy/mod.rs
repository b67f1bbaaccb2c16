//! Load-balancing policies: which replica gets the next request.
//!
//! A policy sees only [`Candidate`]s (replicas that are healthy and not yet tried for this
//! request) and a [`RouteContext`]; it holds no clocks and no global RNG, so every policy is
//! tested exactly on fixed sequences. Health, retries and leases live elsewhere.

mod least_outstanding;
mod power_of_two;
mod prefix_aware;
mod round_robin;

pub use least_outstanding::LeastOutstanding;
pub use power_of_two::PowerOfTwo;
pub use prefix_aware::PrefixAware;
pub use round_robin::RoundRobin;

use std::fmt::Debug;

/// A replica a policy may pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Stable identity of the replica (its URL): the same replica has the same key on every call.
    pub key: &'a str,
    /// Requests the router has in flight on it now.
    pub in_flight: usize,
}

/// What a policy may know of the request.
#[derive(Clone, Copy, Debug, Default)]
pub struct RouteContext<'a> {
    /// The prompt text (see `prompt::routing_text`), read only when [`Policy::needs_prompt`].
    pub prompt: Option<&'a str>,
}

pub trait Policy: Send + Sync + Debug {
    /// The index in `candidates` of the replica to use; `None` only when `candidates` is empty.
    fn select(&self, candidates: &[Candidate<'_>], ctx: &RouteContext<'_>) -> Option<usize>;

    /// Whether the router must parse the request body for the prompt.
    fn needs_prompt(&self) -> bool {
        false
    }
}

/// The policies `--policy` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyKind {
    /// Each replica in turn.
    RoundRobin,
    /// The replica with the fewest requests in flight (ties in turn).
    LeastOutstanding,
    /// Two replicas at random, the less loaded of them.
    PowerOfTwo,
    /// Requests sharing a prompt prefix to one replica (its prefix cache hits), unless it is
    /// overloaded; see docs/router.md.
    PrefixAware,
}

/// Tuning of the policies that have any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyConfig {
    pub kind: PolicyKind,
    /// prefix-aware: characters of the prompt that form its routing key.
    pub prefix_chars: usize,
    /// prefix-aware: how many more requests in flight than the least loaded replica the
    /// prefix's own replica may have before the request goes elsewhere.
    pub prefix_balance_threshold: usize,
    /// power-of-two: RNG seed; `None` seeds from the OS.
    pub seed: Option<u64>,
}

impl PolicyKind {
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::RoundRobin => "round-robin",
            PolicyKind::LeastOutstanding => "least-outstanding",
            PolicyKind::PowerOfTwo => "power-of-two",
            PolicyKind::PrefixAware => "prefix-aware",
        }
    }
}

impl PolicyConfig {
    pub fn build(&self) -> Box<dyn Policy> {
        match self.kind {
            PolicyKind::RoundRobin => Box::new(RoundRobin::default()),
            PolicyKind::LeastOutstanding => Box::new(LeastOutstanding::default()),
            PolicyKind::PowerOfTwo => Box::new(match self.seed {
                Some(seed) => PowerOfTwo::seeded(seed),
                None => PowerOfTwo::from_os_rng(),
            }),
            PolicyKind::PrefixAware => Box::new(PrefixAware::new(
                self.prefix_chars,
                self.prefix_balance_threshold,
            )),
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub const KEYS: [&str; 4] = ["http://a:1", "http://b:1", "http://c:1", "http://d:1"];

    /// Candidates `KEYS[0..loads.len()]` with the given in-flight counts.
    pub fn candidates(loads: &[usize]) -> Vec<Candidate<'static>> {
        loads
            .iter()
            .zip(KEYS)
            .map(|(&in_flight, key)| Candidate { key, in_flight })
            .collect()
    }

    /// The picks of `policy` for `n` requests with fixed loads.
    pub fn picks(policy: &dyn Policy, loads: &[usize], n: usize) -> Vec<usize> {
        let c = candidates(loads);
        (0..n)
            .map(|_| policy.select(&c, &RouteContext::default()).unwrap())
            .collect()
    }
}

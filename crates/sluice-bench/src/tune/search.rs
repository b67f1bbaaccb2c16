//! The search: successive halving on short runs at one load, then full runs of the finalists
//! at every concurrency level, repeated where the best two are within the measured noise.
//! It never runs a blind full grid, and spends no more than its budget: a run that would not
//! fit in what is left is not started.

use super::space::Candidate;
use serde::Serialize;
use std::future::Future;

/// What one run of a candidate measured. Latencies in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Measured {
    pub requests: usize,
    pub completed: usize,
    /// Seconds to finish the run's requests.
    pub duration_s: f64,
    pub output_tok_s: f64,
    /// Completed requests meeting the SLOs per second (all completed ones without SLOs).
    pub goodput: f64,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p99_ms: Option<f64>,
    pub tpot_p50_ms: Option<f64>,
    pub tpot_p99_ms: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    pub errors: usize,
}

/// Runs candidates. `cost` is what a run took from the budget: wall seconds for real
/// servers, simulated ones for the tests' stub.
pub trait Evaluator {
    fn evaluate(
        &mut self,
        candidate: &Candidate,
        concurrency: u32,
        requests: usize,
    ) -> impl Future<Output = Evaluation>;
}

pub struct Evaluation {
    pub outcome: Result<Measured, String>,
    pub cost_s: f64,
}

/// Where in the search a run was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Successive halving, rung `n`: every surviving candidate at the screening load.
    Screen(usize),
    /// A finalist at one concurrency level, with the full prompt set.
    Final,
    /// A final run made again, because the best two were within the noise.
    Repeat,
}

#[derive(Clone, Debug, Serialize)]
pub struct Trial {
    pub candidate: usize,
    pub stage: Stage,
    pub concurrency: u32,
    pub requests: usize,
    pub cost_s: f64,
    pub measured: Option<Measured>,
    pub error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SearchConfig {
    /// Client concurrency levels; the middle one screens.
    pub levels: Vec<u32>,
    /// Requests of a full run.
    pub num_prompts: usize,
    pub budget_s: f64,
    /// p99 bounds a level must meet to be recommended.
    pub ttft_p99_ms: Option<f64>,
    pub tpot_p99_ms: Option<f64>,
}

impl SearchConfig {
    /// Whether a run met the p99 SLOs.
    pub fn meets_slo(&self, m: &Measured) -> bool {
        let within = |bound: Option<f64>, value: Option<f64>| {
            bound.is_none_or(|b| value.is_some_and(|v| v <= b))
        };
        m.completed > 0
            && within(self.ttft_p99_ms, m.ttft_p99_ms)
            && within(self.tpot_p99_ms, m.tpot_p99_ms)
    }

    fn screening_level(&self) -> u32 {
        let mut levels = self.levels.clone();
        levels.sort_unstable();
        levels[levels.len() / 2]
    }
}

/// Everything the search did, kept up to date as it goes so that an interrupted search
/// still reports what it measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Search {
    pub candidates: Vec<Candidate>,
    pub trials: Vec<Trial>,
    pub spent_s: f64,
    /// The relative difference between a run and its repeat, when one was repeated.
    pub noise: Option<f64>,
    /// Why the search ended before its plan did (`budget`, `interrupted`).
    pub stopped: Option<String>,
}

impl Search {
    /// Each measured candidate with the index of its best run, best first: final runs
    /// outweigh screening ones (a full set outweighs a short one), then runs meeting the SLOs,
    /// then goodput (the mean of a final run and its repeat), then output tokens/s.
    pub fn ranking(&self, config: &SearchConfig) -> Vec<(usize, usize)> {
        let mut best: Vec<Option<usize>> = vec![None; self.candidates.len()];
        for (t, trial) in self.trials.iter().enumerate() {
            if trial.measured.is_none() {
                continue;
            }
            let slot = &mut best[trial.candidate];
            if slot.is_none_or(|b| self.rank_key(config, t) > self.rank_key(config, b)) {
                *slot = Some(t);
            }
        }
        let mut ranked: Vec<(usize, usize)> = best
            .into_iter()
            .enumerate()
            .filter_map(|(c, t)| Some((c, t?)))
            .collect();
        ranked.sort_by(|a, b| {
            self.rank_key(config, b.1)
                .partial_cmp(&self.rank_key(config, a.1))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        ranked
    }

    fn rank_key(&self, config: &SearchConfig, t: usize) -> (bool, bool, f64, f64) {
        let trial = &self.trials[t];
        let m = trial.measured.as_ref().expect("ranked runs are measured");
        let full = !matches!(trial.stage, Stage::Screen(_));
        (full, config.meets_slo(m), self.goodput(t), m.output_tok_s)
    }

    /// Run `t`'s goodput; for a full run, the mean over it and its repeats.
    pub fn goodput(&self, t: usize) -> f64 {
        let trial = &self.trials[t];
        let own = trial.measured.as_ref().map_or(0.0, |m| m.goodput);
        match trial.stage {
            Stage::Screen(_) => own,
            Stage::Final | Stage::Repeat => self
                .final_goodput(trial.candidate, trial.concurrency)
                .unwrap_or(own),
        }
    }

    /// The candidate and concurrency to recommend, if any run met the SLOs.
    pub fn recommendation(&self, config: &SearchConfig) -> Option<(usize, usize)> {
        self.ranking(config).into_iter().find(|&(_, t)| {
            self.trials[t]
                .measured
                .as_ref()
                .is_some_and(|m| config.meets_slo(m))
        })
    }

    /// The mean goodput of candidate `c`'s runs at `concurrency` in the final stages.
    fn final_goodput(&self, c: usize, concurrency: u32) -> Option<f64> {
        let runs: Vec<f64> = self
            .trials
            .iter()
            .filter(|t| t.candidate == c && t.concurrency == concurrency)
            .filter(|t| !matches!(t.stage, Stage::Screen(_)))
            .filter_map(|t| t.measured.as_ref().map(|m| m.goodput))
            .collect();
        (!runs.is_empty()).then(|| runs.iter().sum::<f64>() / runs.len() as f64)
    }
}

/// Runs the search, recording into `search` as it goes.
pub async fn run(config: &SearchConfig, evaluator: &mut impl Evaluator, search: &mut Search) {
    let screen = config.screening_level();
    let mut alive: Vec<usize> = (0..search.candidates.len()).collect();
    // At least one request per client, or the screening load is never reached.
    let mut requests = (config.num_prompts / 8)
        .max(4)
        .max(screen as usize)
        .min(config.num_prompts);
    let mut rung = 0;
    // Successive halving while more than two remain.
    while alive.len() > 2 {
        for &c in &alive {
            if !trial(
                config,
                evaluator,
                search,
                c,
                Stage::Screen(rung),
                screen,
                requests,
            )
            .await
            {
                return;
            }
        }
        alive.retain(|&c| screened(search, c, rung));
        alive.sort_by(|&a, &b| {
            let score = |c: usize| {
                search
                    .trials
                    .iter()
                    .rfind(|t| t.candidate == c && t.stage == Stage::Screen(rung))
                    .and_then(|t| t.measured.as_ref())
                    .map_or((false, 0.0, 0.0), |m| {
                        (config.meets_slo(m), m.goodput, m.output_tok_s)
                    })
            };
            score(b)
                .partial_cmp(&score(a))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        alive.truncate(alive.len().div_ceil(3).max(2));
        requests = (requests * 2).min(config.num_prompts);
        rung += 1;
    }
    // Finalists at every level, with the full set.
    for &c in &alive {
        for &level in &config.levels {
            if !trial(
                config,
                evaluator,
                search,
                c,
                Stage::Final,
                level,
                config.num_prompts,
            )
            .await
            {
                return;
            }
        }
    }
    // The best run once more; the runner-up too when it is within the noise that shows.
    let ranked = search.ranking(config);
    let Some(&(best, best_trial)) = ranked.first() else {
        return;
    };
    let best_level = search.trials[best_trial].concurrency;
    let first = search.final_goodput(best, best_level).unwrap_or(0.0);
    if !trial(
        config,
        evaluator,
        search,
        best,
        Stage::Repeat,
        best_level,
        config.num_prompts,
    )
    .await
    {
        return;
    }
    let again = search
        .trials
        .last()
        .and_then(|t| t.measured.as_ref())
        .map_or(first, |m| m.goodput);
    let noise = ((first - again).abs() / first.max(again).max(f64::MIN_POSITIVE)).max(0.02);
    search.noise = Some(noise);
    if let Some(&(second, second_trial)) = ranked.get(1) {
        let level = search.trials[second_trial].concurrency;
        let runner_up = search.final_goodput(second, level).unwrap_or(0.0);
        let best_mean = search.final_goodput(best, best_level).unwrap_or(0.0);
        if best_mean > 0.0 && (best_mean - runner_up) / best_mean <= noise {
            trial(
                config,
                evaluator,
                search,
                second,
                Stage::Repeat,
                level,
                config.num_prompts,
            )
            .await;
        }
    }
}

/// Whether candidate `c` has a measured run at rung `rung` (one that failed is out).
fn screened(search: &Search, c: usize, rung: usize) -> bool {
    search
        .trials
        .iter()
        .any(|t| t.candidate == c && t.stage == Stage::Screen(rung) && t.measured.is_some())
}

/// Runs one trial if the budget has room for it, as estimated from the dearest cost per
/// request so far; returns false (and says why) when it has not.
async fn trial(
    config: &SearchConfig,
    evaluator: &mut impl Evaluator,
    search: &mut Search,
    candidate: usize,
    stage: Stage,
    concurrency: u32,
    requests: usize,
) -> bool {
    let per_request = search
        .trials
        .iter()
        .map(|t| t.cost_s / t.requests.max(1) as f64)
        .fold(0.0, f64::max);
    let estimate = per_request * requests as f64;
    if search.spent_s + estimate > config.budget_s {
        search.stopped = Some("budget".into());
        return false;
    }
    let evaluation = evaluator
        .evaluate(&search.candidates[candidate], concurrency, requests)
        .await;
    search.spent_s += evaluation.cost_s;
    let (measured, error) = match evaluation.outcome {
        Ok(m) => (Some(m), None),
        Err(e) => (None, Some(e)),
    };
    search.trials.push(Trial {
        candidate,
        stage,
        concurrency,
        requests,
        cost_s: evaluation.cost_s,
        measured,
        error,
    });
    true
}

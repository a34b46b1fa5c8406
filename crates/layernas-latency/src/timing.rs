//! How a latency is measured: every runner of a batch is timed in rounds, in a new random order
//! each round, each sample timing as many calls back to back as fill `sample_ms`; the median of
//! a runner's samples is its latency. Interleaving spreads a slow spell of the machine over
//! every runner instead of one; back-to-back calls make the timer's resolution and a single
//! hiccup small against a sample; the median drops the samples a spell still spoils.

use crate::engine::Runner;
use crate::LatencyError;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::time::Instant;

/// How each latency is measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Method {
    /// Untimed calls of each runner before anything is timed.
    pub warmup: usize,
    /// Timed samples of each runner, one per round; the median is kept.
    pub repeats: usize,
    /// The least time one sample lasts (ms): it times as many calls back to back as fit.
    pub sample_ms: f64,
}

impl Default for Method {
    fn default() -> Self {
        Method {
            warmup: 3,
            repeats: 10,
            sample_ms: 1.0,
        }
    }
}

impl Method {
    /// Checks the knobs: at least one repeat, and a sample of more than 0 and at most 1,000 ms.
    pub fn validate(&self) -> Result<(), LatencyError> {
        if self.repeats == 0 {
            return Err(LatencyError::Knob("--repeats must be at least 1".into()));
        }
        if !(self.sample_ms > 0.0 && self.sample_ms <= 1000.0) {
            return Err(LatencyError::Knob(format!(
                "--sample-ms must be more than 0 and at most 1000, not {}",
                self.sample_ms
            )));
        }
        Ok(())
    }
}

/// The latency (ms per call) of each of `runners`, measured together by `method`; the order of
/// every round is drawn from `seed`. `round_done` is called after each round.
pub fn measure(
    runners: &mut [Box<dyn Runner>],
    method: &Method,
    seed: u64,
    round_done: impl FnMut(),
) -> Result<Vec<f64>, LatencyError> {
    Ok(measure_samples(runners, method, seed, round_done)?
        .into_iter()
        .map(median)
        .collect())
}

/// [`measure`]'s samples (ms per call), `method.repeats` of each runner, before the median.
pub fn measure_samples(
    runners: &mut [Box<dyn Runner>],
    method: &Method,
    seed: u64,
    mut round_done: impl FnMut(),
) -> Result<Vec<Vec<f64>>, LatencyError> {
    // Calls per sample: as many as fill `sample_ms`, counted once after the warm-up.
    let mut calls = Vec::with_capacity(runners.len());
    for runner in runners.iter_mut() {
        for _ in 0..method.warmup {
            runner.run()?;
        }
        let started = Instant::now();
        let mut n = 0u64;
        while n == 0 || (started.elapsed().as_secs_f64() * 1e3 < method.sample_ms && n < 1 << 20) {
            runner.run()?;
            n += 1;
        }
        calls.push(n);
    }
    let mut samples = vec![Vec::with_capacity(method.repeats); runners.len()];
    let mut order: Vec<usize> = (0..runners.len()).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for _ in 0..method.repeats {
        order.shuffle(&mut rng);
        for &i in &order {
            let started = Instant::now();
            for _ in 0..calls[i] {
                runners[i].run()?;
            }
            samples[i].push(started.elapsed().as_secs_f64() * 1e3 / calls[i] as f64);
        }
        round_done();
    }
    Ok(samples)
}

/// The median of `values` (the mean of the middle two of an even count).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Sleeps a fixed time per call.
    struct Sleeper {
        micros: u64,
    }

    impl Runner for Sleeper {
        fn run(&mut self) -> Result<(), LatencyError> {
            std::thread::sleep(Duration::from_micros(self.micros));
            Ok(())
        }
    }

    struct Failing;

    impl Runner for Failing {
        fn run(&mut self) -> Result<(), LatencyError> {
            Err(LatencyError::Engine("broken".into()))
        }
    }

    #[test]
    fn each_runner_gets_its_own_time_from_interleaved_rounds() {
        let mut runners: Vec<Box<dyn Runner>> = vec![
            Box::new(Sleeper { micros: 3000 }),
            Box::new(Sleeper { micros: 500 }),
        ];
        let method = Method {
            warmup: 1,
            repeats: 5,
            sample_ms: 2.0,
        };
        let mut rounds = 0;
        let ms = measure(&mut runners, &method, 7, || rounds += 1).unwrap();
        assert_eq!(rounds, 5);
        // A sleep lasts at least what it asks for, and not many times more on an idle-enough
        // machine: the median keeps the typical sample.
        assert!(ms[0] >= 3.0 && ms[0] < 3.0 * 3.0, "{ms:?}");
        assert!(ms[1] >= 0.5 && ms[1] < 0.5 * 6.0, "{ms:?}");
        assert!(ms[0] > ms[1], "{ms:?}");
    }

    #[test]
    fn a_failing_runner_stops_the_measurement_with_its_error() {
        let mut runners: Vec<Box<dyn Runner>> = vec![Box::new(Failing)];
        let err = measure(&mut runners, &Method::default(), 0, || {}).unwrap_err();
        assert_eq!(err.to_string(), "broken");
    }

    #[test]
    fn the_median_of_an_even_count_is_the_middle_twos_mean() {
        assert_eq!(median(vec![4.0, 1.0, 3.0]), 3.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }
}

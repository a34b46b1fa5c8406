//! NSGA-II (Deb et al. 2002) over (cost, reward): the multi-objective baseline.

use crate::common::{BaselineConfig, Feasibility};
use crate::random::reward_of;
use crate::ConfigError;
use layernas_core::{Arch, CostModel, Fidelity, Outcome, SearchSpace, Strategy, Suggestion, Wave};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::cmp::Ordering;
use std::sync::Arc;

/// The largest NSGA-II population accepted (the non-dominated sort is quadratic in it).
pub const MAX_NSGA2_POPULATION: usize = 10_000;

/// Knobs of NSGA-II, with their defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Nsga2Config {
    /// Population size N, which is also the number of children per generation (default 20, so
    /// that a 300-trial budget gives the random first generation and 14 more; 2 to
    /// [`MAX_NSGA2_POPULATION`]).
    pub population: usize,
    /// Probability that a child is the uniform crossover of its two parents (each layer from
    /// either parent with probability 1/2) rather than a copy of the first (default 0.9, the
    /// usual NSGA-II setting; 0 to 1).
    pub crossover_prob: f64,
    /// Probability that each layer of a child is mutated to a different option, drawn
    /// uniformly; `None` (the default) means 1 / the number of layers, one layer per child on
    /// average (greater than 0, at most 1).
    pub mutation_prob: Option<f64>,
}

impl Default for Nsga2Config {
    fn default() -> Self {
        Nsga2Config {
            population: 20,
            crossover_prob: 0.9,
            mutation_prob: None,
        }
    }
}

impl Nsga2Config {
    /// Checks the knobs: population 2..=[`MAX_NSGA2_POPULATION`], crossover probability in
    /// [0, 1], mutation probability in (0, 1].
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(2..=MAX_NSGA2_POPULATION).contains(&self.population) {
            return Err(ConfigError::Invalid {
                field: "population",
                value: self.population.to_string(),
                reason: format!("must be 2 to {MAX_NSGA2_POPULATION}"),
            });
        }
        if !(0.0..=1.0).contains(&self.crossover_prob) {
            return Err(ConfigError::Invalid {
                field: "crossover_prob",
                value: self.crossover_prob.to_string(),
                reason: "must be 0 to 1".into(),
            });
        }
        if let Some(p) = self.mutation_prob {
            if !(p > 0.0 && p <= 1.0) {
                return Err(ConfigError::Invalid {
                    field: "mutation_prob",
                    value: p.to_string(),
                    reason: "must be greater than 0 and at most 1".into(),
                });
            }
        }
        Ok(())
    }
}

/// An evaluated model of the population.
#[derive(Debug, Clone)]
struct Member {
    arch: Arch,
    cost: f64,
    reward: f64,
    /// Non-domination rank (0 = the first front) and crowding distance, from the last
    /// environmental selection.
    rank: usize,
    crowding: f64,
}

/// NSGA-II over two objectives, cost (minimised) and reward (maximised).
///
/// Generation 0 is `population` random feasible models (one wave). Every later generation is
/// one wave of `population` children: each child's two parents are picked by binary tournament
/// (lower non-domination rank wins, then larger crowding distance, then a coin), combined by
/// uniform crossover with probability `crossover_prob` and mutated layer by layer. After a
/// generation is observed, parents and children are merged, sorted into fronts (fast
/// non-dominated sort) and the best `population` survive, the last front admitted by crowding
/// distance. Failed models take part in nothing. As in every baseline, a child that is outside
/// the cost window or seen before is redrawn (up to 100 times, then a random feasible model is
/// used), and the search stops at its trial budget.
pub struct Nsga2 {
    config: BaselineConfig,
    nsga: Nsga2Config,
    mutation_prob: f64,
    state: Feasibility,
    population: Vec<Member>,
    /// Children observed since the last selection, in observation order.
    offspring: Vec<Member>,
    generation: u64,
    rng: ChaCha8Rng,
}

impl Nsga2 {
    /// NSGA-II; knobs out of range are clamped here (validate them first with
    /// [`Nsga2Config::validate`], as [`build_strategy`](crate::build_strategy) does).
    pub fn new(
        config: BaselineConfig,
        nsga: Nsga2Config,
        space: Arc<dyn SearchSpace>,
        cost: Arc<dyn CostModel>,
    ) -> Self {
        let layers = space.layers().len().max(1);
        let default = Nsga2Config::default();
        // NaN would make every coin flip panic: it falls back to the default.
        let mutation_prob = nsga
            .mutation_prob
            .filter(|p| !p.is_nan())
            .unwrap_or(1.0 / layers as f64)
            .clamp(f64::MIN_POSITIVE, 1.0);
        let crossover_prob = if nsga.crossover_prob.is_nan() {
            default.crossover_prob
        } else {
            nsga.crossover_prob.clamp(0.0, 1.0)
        };
        let nsga = Nsga2Config {
            population: nsga.population.clamp(2, MAX_NSGA2_POPULATION),
            crossover_prob,
            mutation_prob: Some(mutation_prob),
        };
        Nsga2 {
            rng: ChaCha8Rng::seed_from_u64(config.scope.seed),
            state: Feasibility::new(space, cost, &config),
            population: Vec::new(),
            offspring: Vec::new(),
            generation: 0,
            mutation_prob,
            config,
            nsga,
        }
    }

    /// Environmental selection: parents and children merged, the best `population` kept.
    fn select(&mut self) {
        let mut pool = std::mem::take(&mut self.population);
        pool.append(&mut self.offspring);
        let points: Vec<(f64, f64)> = pool.iter().map(|m| (m.cost, m.reward)).collect();
        let fronts = non_dominated_sort(&points);
        let n = self.nsga.population;
        let mut next = Vec::with_capacity(n.min(pool.len()));
        for (rank, front) in fronts.iter().enumerate() {
            if next.len() >= n {
                break;
            }
            let crowd = crowding_distance(&points, front);
            let mut order: Vec<usize> = (0..front.len()).collect();
            if next.len() + front.len() > n {
                // The last front admitted: the most isolated first (stable: pool order on ties).
                order.sort_by(|&a, &b| crowd[b].total_cmp(&crowd[a]));
                order.truncate(n - next.len());
            }
            for i in order {
                let mut m = pool[front[i]].clone();
                m.rank = rank;
                m.crowding = crowd[i];
                next.push(m);
            }
        }
        self.population = next;
    }

    /// Binary tournament under the crowded comparison.
    fn tournament(&mut self) -> usize {
        let n = self.population.len();
        let a = self.rng.random_range(0..n);
        if n == 1 {
            return a;
        }
        let mut b = self.rng.random_range(0..n - 1);
        if b >= a {
            b += 1;
        }
        let (x, y) = (&self.population[a], &self.population[b]);
        match x.rank.cmp(&y.rank).then(y.crowding.total_cmp(&x.crowding)) {
            Ordering::Less => a,
            Ordering::Greater => b,
            Ordering::Equal => {
                if self.rng.random_bool(0.5) {
                    a
                } else {
                    b
                }
            }
        }
    }

    fn make_child(&mut self) -> Arch {
        let p1 = self.tournament();
        let p2 = self.tournament();
        let mut child = self.population[p1].arch.clone();
        if self.rng.random_bool(self.nsga.crossover_prob) {
            let other = &self.population[p2].arch;
            for l in 0..child.len() {
                if self.rng.random_bool(0.5) {
                    child.set(l, other.get(l));
                }
            }
        }
        let layers = self.state.space.layers();
        for (l, layer) in layers.iter().enumerate() {
            let n = layer.options.len();
            if n > 1 && self.rng.random_bool(self.mutation_prob) {
                let shift = self.rng.random_range(1..n);
                child.set(l, (child.get(l) + shift) % n);
            }
        }
        self.state.space.canonical(&child)
    }

    fn next_child(&mut self) -> Option<Arch> {
        if self.population.is_empty() {
            return self.state.random_fresh(&mut self.rng);
        }
        for _ in 0..100 {
            let child = self.make_child();
            if self.state.fresh(&child) {
                return Some(child);
            }
        }
        self.state.random_fresh(&mut self.rng)
    }
}

impl Strategy for Nsga2 {
    fn name(&self) -> &str {
        "nsga2"
    }

    fn trial_bound(&self) -> Option<u64> {
        Some(self.config.max_trials)
    }

    fn suggest(&mut self) -> Suggestion {
        let left = self.config.max_trials.saturating_sub(self.state.trials());
        if left == 0 {
            return Suggestion::Done;
        }
        if !self.offspring.is_empty() {
            self.select();
        }
        let want = left.min(self.nsga.population as u64);
        let mut wave = Vec::new();
        for _ in 0..want {
            let Some(child) = self.next_child() else {
                break;
            };
            self.state.propose(&child);
            wave.push(child);
        }
        if wave.is_empty() {
            return Suggestion::Done;
        }
        let label = format!("nsga2 generation {}", self.generation);
        self.generation += 1;
        Suggestion::Wave(Wave {
            label,
            archs: wave,
            fidelity: Fidelity::Full,
        })
    }

    fn observe(&mut self, arch: &Arch, cost: f64, outcome: Outcome) {
        let reward = reward_of(outcome);
        self.state.record(arch, cost, reward);
        if let Some(reward) = reward {
            self.offspring.push(Member {
                arch: arch.clone(),
                cost,
                reward,
                rank: 0,
                crowding: 0.0,
            });
        }
    }

    fn best(&self) -> Option<Arch> {
        self.state.best()
    }
}

/// `a` dominates `b`: no costlier, no less rewarded, and better in one.
fn dominates(a: (f64, f64), b: (f64, f64)) -> bool {
    a.0 <= b.0 && a.1 >= b.1 && (a.0 < b.0 || a.1 > b.1)
}

/// Deb's fast non-dominated sort of `(cost, reward)` points (cost minimised, reward
/// maximised): the fronts in order, each a list of indices in increasing index order.
pub(crate) fn non_dominated_sort(points: &[(f64, f64)]) -> Vec<Vec<usize>> {
    let n = points.len();
    let mut dominated_by = vec![0usize; n];
    let mut dominates_list: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        for j in i + 1..n {
            if dominates(points[i], points[j]) {
                dominates_list[i].push(j);
                dominated_by[j] += 1;
            } else if dominates(points[j], points[i]) {
                dominates_list[j].push(i);
                dominated_by[i] += 1;
            }
        }
    }
    let mut fronts = Vec::new();
    let mut current: Vec<usize> = (0..n).filter(|&i| dominated_by[i] == 0).collect();
    while !current.is_empty() {
        let mut next = Vec::new();
        for &i in &current {
            for &j in &dominates_list[i] {
                dominated_by[j] -= 1;
                if dominated_by[j] == 0 {
                    next.push(j);
                }
            }
        }
        next.sort_unstable();
        fronts.push(current);
        current = next;
    }
    fronts
}

/// Crowding distance of each member of `front` (indices into `points`), in front order:
/// the sum over both objectives of the normalised gap between a point's neighbours; the
/// extremes of each objective get infinity.
pub(crate) fn crowding_distance(points: &[(f64, f64)], front: &[usize]) -> Vec<f64> {
    let n = front.len();
    let mut dist = vec![0.0; n];
    if n <= 2 {
        return vec![f64::INFINITY; n];
    }
    let objectives: [fn((f64, f64)) -> f64; 2] = [|p| p.0, |p| -p.1];
    for f in objectives {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| f(points[front[a]]).total_cmp(&f(points[front[b]])));
        let lo = f(points[front[order[0]]]);
        let hi = f(points[front[order[n - 1]]]);
        dist[order[0]] = f64::INFINITY;
        dist[order[n - 1]] = f64::INFINITY;
        if hi > lo {
            for k in 1..n - 1 {
                let gap = f(points[front[order[k + 1]]]) - f(points[front[order[k - 1]]]);
                dist[order[k]] += gap / (hi - lo);
            }
        }
    }
    dist
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fronts_are_peeled_in_order() {
        // (cost, reward): 0 and 1 are the first front; 2 is dominated by 0 only; 3 by 2.
        let pts = [(1.0, 5.0), (3.0, 9.0), (2.0, 4.0), (2.5, 3.0), (4.0, 9.0)];
        assert_eq!(
            non_dominated_sort(&pts),
            vec![vec![0, 1], vec![2, 4], vec![3]]
        );
    }

    #[test]
    fn equal_points_share_a_front() {
        let pts = [(1.0, 1.0), (1.0, 1.0), (2.0, 0.5)];
        assert_eq!(non_dominated_sort(&pts), vec![vec![0, 1], vec![2]]);
    }

    #[test]
    fn crowding_distance_by_hand() {
        // A front of four points, costs 0, 1, 3, 4 and rewards 4, 3, 1, 0 (both ranges 4).
        let pts = [(0.0, 4.0), (1.0, 3.0), (3.0, 1.0), (4.0, 0.0)];
        let d = crowding_distance(&pts, &[0, 1, 2, 3]);
        assert!(d[0].is_infinite() && d[3].is_infinite());
        // Point 1: neighbours 0 and 3 in cost (gap 3/4), 4 and 1 in reward (gap 3/4).
        assert!((d[1] - 1.5).abs() < 1e-12);
        assert!((d[2] - 1.5).abs() < 1e-12);
        assert!(crowding_distance(&pts, &[0, 1])
            .iter()
            .all(|d| d.is_infinite()));
    }

    #[test]
    fn unchecked_knobs_are_clamped_not_panicked_on() {
        use layernas_core::{Executor, MemoryStore};
        use layernas_spaces::Nb201Space;
        use layernas_tables::{Dataset, Nb201Table, TableCost, TableEvaluator};
        let table = Nb201Table::embedded().unwrap();
        let space: Arc<dyn SearchSpace> = Arc::new(Nb201Space::new());
        let cost: Arc<dyn CostModel> =
            Arc::new(TableCost::new(&table, "flops", Dataset::Cifar10).unwrap());
        let eval = Arc::new(TableEvaluator::for_dataset(&table, Dataset::Cifar10).unwrap());
        for nsga in [
            Nsga2Config {
                population: 0,
                crossover_prob: f64::NAN,
                mutation_prob: Some(f64::NAN),
            },
            Nsga2Config {
                population: 3,
                crossover_prob: 7.0,
                mutation_prob: Some(-1.0),
            },
        ] {
            let config = BaselineConfig {
                max_trials: 30,
                ..BaselineConfig::default()
            };
            let mut s = Nsga2::new(config, nsga, space.clone(), cost.clone());
            let mut store = MemoryStore::new();
            let summary = Executor::new(&*space, &*cost, eval.clone())
                .run(&mut s, &mut store)
                .unwrap();
            assert_eq!(summary.trials, 30);
        }
    }

    #[test]
    fn knobs_are_checked() {
        assert!(Nsga2Config::default().validate().is_ok());
        for bad in [
            Nsga2Config {
                population: 1,
                ..Nsga2Config::default()
            },
            Nsga2Config {
                population: MAX_NSGA2_POPULATION + 1,
                ..Nsga2Config::default()
            },
            Nsga2Config {
                crossover_prob: 1.5,
                ..Nsga2Config::default()
            },
            Nsga2Config {
                crossover_prob: f64::NAN,
                ..Nsga2Config::default()
            },
            Nsga2Config {
                mutation_prob: Some(0.0),
                ..Nsga2Config::default()
            },
            Nsga2Config {
                mutation_prob: Some(f64::NAN),
                ..Nsga2Config::default()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}

//! Fidelities through the executor: a trial is identified by (architecture, fidelity), the
//! evaluator is told the fidelity, every result keeps it, replay and a second run against the
//! same store find what was evaluated, and the run reports the training epochs spent.

use layernas_core::{
    replay, Arch, CostModel, EvalError, Evaluation, Evaluator, Executor, Fidelity, GenericSpace,
    Layer, MemoryStore, Outcome, Strategy, Suggestion, TrialRequest, TrialState, TrialStore, Wave,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn space() -> GenericSpace {
    GenericSpace::new(
        "t",
        vec![Layer::new("a", ["0", "1", "2", "3", "4", "5"], 0)],
    )
    .unwrap()
}

struct Unit;
impl CostModel for Unit {
    fn name(&self) -> &str {
        "unit"
    }
    fn unit(&self) -> &str {
        "u"
    }
    fn cost(&self, arch: &Arch) -> f64 {
        arch.options()[0] as f64
    }
}

/// Low fidelity: the option index (a rough guess); full: 10 x it. Epochs 1 or 10.
#[derive(Default)]
struct ByFidelity {
    calls: AtomicUsize,
}
impl Evaluator for ByFidelity {
    fn name(&self) -> &str {
        "by-fidelity"
    }
    fn evaluate(&self, r: &TrialRequest<'_>) -> Result<Evaluation, EvalError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let o = r.arch.options()[0] as f64;
        let (reward, epochs) = match r.fidelity {
            Fidelity::Low => (o, 1.0),
            Fidelity::Full => (10.0 * o, 10.0),
        };
        Ok(Evaluation {
            reward,
            metrics: [("epochs".to_string(), epochs)].into_iter().collect(),
        })
    }
}

/// Screens every option at low fidelity, then evaluates the best two at full fidelity.
#[derive(Default)]
struct Screen {
    step: usize,
    low: Vec<(Arch, f64)>,
    full: Vec<(Arch, Fidelity, f64)>,
}
impl Strategy for Screen {
    fn name(&self) -> &str {
        "screen"
    }
    fn trial_bound(&self) -> Option<u64> {
        Some(8)
    }
    fn suggest(&mut self) -> Suggestion {
        self.step += 1;
        match self.step {
            1 => Suggestion::Wave(Wave {
                label: "screen".into(),
                archs: (0..6).map(|o| Arch::new(vec![o])).collect(),
                fidelity: Fidelity::Low,
            }),
            2 => {
                let mut ranked = self.low.clone();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
                Suggestion::Wave(Wave {
                    label: "promote".into(),
                    archs: ranked.into_iter().take(2).map(|(a, _)| a).collect(),
                    fidelity: Fidelity::Full,
                })
            }
            _ => Suggestion::Done,
        }
    }
    fn observe(&mut self, arch: &Arch, _cost: f64, outcome: Outcome) {
        let Outcome::Reward(r) = outcome else { return };
        if self.step == 1 {
            self.low.push((arch.clone(), r));
        } else {
            self.full.push((arch.clone(), Fidelity::Full, r));
        }
    }
    fn best(&self) -> Option<Arch> {
        self.full
            .iter()
            .max_by(|a, b| a.2.total_cmp(&b.2))
            .map(|f| f.0.clone())
    }
}

#[test]
fn one_architecture_gets_a_trial_at_each_fidelity() {
    let space = space();
    let eval = Arc::new(ByFidelity::default());
    let mut store = MemoryStore::new();
    let executor = Executor::new(&space, &Unit, eval.clone());
    let mut strategy = Screen::default();
    let summary = executor.run(&mut strategy, &mut store).unwrap();
    assert_eq!((summary.trials, summary.evaluated_now), (8, 8));
    assert_eq!(summary.epochs, 6.0 + 20.0);
    let trials = store.trials().unwrap();
    let low: Vec<_> = trials
        .iter()
        .filter(|t| t.fidelity == Fidelity::Low)
        .collect();
    assert_eq!(low.len(), 6);
    let five = Arch::new(vec![5]);
    let full = store.lookup(&five).unwrap().unwrap();
    assert_eq!(
        (full.fidelity, full.reward, full.state),
        (Fidelity::Full, Some(50.0), TrialState::Complete)
    );
    assert_eq!(
        store
            .lookup_at(&five, Fidelity::Low)
            .unwrap()
            .unwrap()
            .reward,
        Some(5.0)
    );
    assert_eq!(strategy.best(), Some(five.clone()));

    // Replay rebuilds the strategy from the stored trials (each at its wave's fidelity).
    let mut replayed = Screen::default();
    assert_eq!(replay(&mut replayed, &trials), 2);
    assert_eq!(replayed.full, strategy.full);
    assert_eq!(replayed.best(), Some(five));

    // A second run against the same store evaluates nothing.
    let mut again = Screen::default();
    let summary = executor.run(&mut again, &mut store).unwrap();
    assert_eq!((summary.trials, summary.evaluated_now), (8, 0));
    assert_eq!(eval.calls.load(Ordering::SeqCst), 8);
    assert_eq!(again.full, strategy.full);
}

#[test]
fn the_budget_counts_trials_at_every_fidelity() {
    let space = space();
    let eval = Arc::new(ByFidelity::default());
    let mut store = MemoryStore::new();
    let executor = Executor {
        max_trials: Some(7),
        ..Executor::new(&space, &Unit, eval)
    };
    let summary = executor.run(&mut Screen::default(), &mut store).unwrap();
    assert!(summary.budget_exhausted);
    assert_eq!(summary.trials, 7);
}

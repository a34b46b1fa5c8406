//! Failures are data: an evaluator error, a timeout, a non-finite reward and a panic each mark
//! the trial failed with the reason; failed trials are retried up to `retries` times and the
//! search then goes on without them.

use layernas_core::{
    Arch, CostModel, EvalError, Evaluation, Evaluator, Executor, Fidelity, GenericSpace, Layer,
    MemoryStore, Outcome, Strategy, Suggestion, TrialRequest, TrialState, TrialStore, Wave,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn space() -> GenericSpace {
    GenericSpace::new(
        "t",
        vec![Layer::new("a", ["0", "1", "2", "3", "4", "5"], 5)],
    )
    .unwrap()
}

struct Index;
impl CostModel for Index {
    fn name(&self) -> &str {
        "index"
    }
    fn unit(&self) -> &str {
        ""
    }
    fn cost(&self, arch: &Arch) -> f64 {
        arch.get(0) as f64
    }
}

/// Option 0 fails once then works; 1 always fails; 2 is NaN; 3 sleeps; 4 panics; 5 works.
#[derive(Default)]
struct Flaky {
    calls: Mutex<HashMap<usize, u32>>,
}

impl Evaluator for Flaky {
    fn name(&self) -> &str {
        "flaky"
    }
    fn evaluate(&self, r: &TrialRequest<'_>) -> Result<Evaluation, EvalError> {
        let o = r.arch.get(0);
        let n = {
            let mut calls = self.calls.lock().unwrap();
            let n = calls.entry(o).or_default();
            *n += 1;
            *n
        };
        let ok = |reward: f64| {
            Ok(Evaluation {
                reward,
                metrics: BTreeMap::new(),
            })
        };
        match o {
            0 if n == 1 => Err(EvalError::Failed("flaky GPU".into())),
            1 => Err(EvalError::Failed("out of memory".into())),
            2 => ok(f64::NAN),
            3 => {
                std::thread::sleep(Duration::from_millis(400));
                ok(3.0)
            }
            4 => panic!("kernel bug"),
            _ => ok(o as f64 * 10.0),
        }
    }
}

/// One wave of every option.
struct All {
    asked: bool,
    seen: Vec<(Arch, Outcome)>,
}

impl Strategy for All {
    fn name(&self) -> &str {
        "all"
    }
    fn trial_bound(&self) -> Option<u64> {
        Some(6)
    }
    fn suggest(&mut self) -> Suggestion {
        if self.asked {
            return Suggestion::Done;
        }
        self.asked = true;
        Suggestion::Wave(Wave {
            label: "all".into(),
            archs: (0..6).map(|o| Arch::new(vec![o])).collect(),
            fidelity: Fidelity::Full,
        })
    }
    fn observe(&mut self, arch: &Arch, _cost: f64, outcome: Outcome) {
        self.seen.push((arch.clone(), outcome));
    }
    fn best(&self) -> Option<Arch> {
        None
    }
}

#[test]
fn failures_are_recorded_with_reasons_retried_and_skipped() {
    let space = space();
    let eval = Arc::new(Flaky::default());
    let mut strategy = All {
        asked: false,
        seen: Vec::new(),
    };
    let mut store = MemoryStore::new();
    let summary = Executor {
        retries: 1,
        workers: 3,
        trial_timeout: Some(Duration::from_millis(100)),
        ..Executor::new(&space, &Index, eval.clone())
    }
    .run(&mut strategy, &mut store)
    .unwrap();
    let trials = store.trials().unwrap();
    let by_option: HashMap<usize, _> = trials.iter().map(|t| (t.arch.get(0), t.clone())).collect();
    // Retried once, then fine.
    assert_eq!(by_option[&0].state, TrialState::Complete);
    assert_eq!(by_option[&0].attempts, 2);
    // Failed for good, each with its reason, after 1 + retries attempts.
    for (o, reason) in [
        (1, "out of memory"),
        (2, "non-finite reward NaN"),
        (3, "timed out"),
        (4, "crashed: kernel bug"),
    ] {
        let t = &by_option[&o];
        assert_eq!(t.state, TrialState::Failed, "option {o}");
        assert_eq!(t.attempts, 2, "option {o}");
        assert!(
            t.error.as_deref().unwrap().contains(reason),
            "option {o}: {:?}",
            t.error
        );
    }
    assert_eq!(by_option[&5].reward, Some(50.0));
    assert_eq!(summary.failed, 4);
    // The strategy heard about every trial, failures included.
    let failed = strategy
        .seen
        .iter()
        .filter(|(_, o)| *o == Outcome::Failed)
        .count();
    assert_eq!((strategy.seen.len(), failed), (6, 4));
}

#[test]
fn a_stored_failure_is_not_retried_on_resume() {
    let space = space();
    let eval = Arc::new(Flaky::default());
    let mut store = MemoryStore::new();
    let exec = Executor::new(&space, &Index, eval.clone());
    exec.run(
        &mut All {
            asked: false,
            seen: Vec::new(),
        },
        &mut store,
    )
    .unwrap();
    let calls_before: u32 = eval.calls.lock().unwrap().values().sum();
    exec.run(
        &mut All {
            asked: false,
            seen: Vec::new(),
        },
        &mut store,
    )
    .unwrap();
    let calls_after: u32 = eval.calls.lock().unwrap().values().sum();
    assert_eq!(
        calls_before, calls_after,
        "the resumed run evaluated something again"
    );
}

/// Runs until cancelled, then says it ended.
struct Endless {
    ended: Arc<std::sync::atomic::AtomicBool>,
}

impl Evaluator for Endless {
    fn name(&self) -> &str {
        "endless"
    }
    fn evaluate(&self, r: &TrialRequest<'_>) -> Result<Evaluation, EvalError> {
        self.evaluate_cancellable(r, &layernas_core::Cancel::new())
    }
    fn evaluate_cancellable(
        &self,
        _: &TrialRequest<'_>,
        cancel: &layernas_core::Cancel,
    ) -> Result<Evaluation, EvalError> {
        while !cancel.is_cancelled() {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.ended.store(true, std::sync::atomic::Ordering::SeqCst);
        Err(EvalError::Cancelled)
    }
}

#[test]
fn a_timed_out_evaluation_is_cancelled_and_its_thread_ends() {
    let ended = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let eval: Arc<dyn Evaluator> = Arc::new(Endless {
        ended: ended.clone(),
    });
    let arch = Arch::new(vec![0]);
    let r = layernas_core::evaluate_guarded(
        &eval,
        0,
        &arch,
        0,
        Some(Duration::from_millis(50)),
        &layernas_core::Cancel::new(),
    );
    assert!(matches!(r, Err(EvalError::Timeout(_))), "{r:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while !ended.load(std::sync::atomic::Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned evaluation kept running"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Says a lot when it fails.
struct Verbose;
impl Evaluator for Verbose {
    fn name(&self) -> &str {
        "verbose"
    }
    fn evaluate(&self, r: &TrialRequest<'_>) -> Result<Evaluation, EvalError> {
        if r.arch.get(0) == 0 {
            panic!("{}", "p".repeat(1 << 20));
        }
        Err(EvalError::Failed("e".repeat(1 << 20)))
    }
}

#[test]
fn failure_text_is_bounded_whatever_the_evaluator_says() {
    let space = space();
    let mut store = MemoryStore::new();
    Executor::new(&space, &Index, Arc::new(Verbose))
        .run(
            &mut All {
                asked: false,
                seen: Vec::new(),
            },
            &mut store,
        )
        .unwrap();
    for t in store.trials().unwrap() {
        let e = t.error.unwrap();
        assert!(
            e.len() < layernas_core::limits::MAX_TEXT_BYTES + 100,
            "{}",
            e.len()
        );
        assert!(e.contains("[cut: "), "{}", &e[e.len() - 50..]);
    }
}

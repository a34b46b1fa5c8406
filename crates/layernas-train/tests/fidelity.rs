//! A low-fidelity trial trains the shorter recipe (a quarter of the epochs and images by
//! default) and reports its cost in epochs of the full recipe's training subset.

use layernas_core::{Evaluator, Fidelity, SearchSpace, TrialRequest, EPOCHS_METRIC};
use layernas_spaces::space_from_toml;
use layernas_train::{FashionMnist, TrainConfig, TrainEvaluator};
use std::sync::Arc;

const TINY: &str = r#"
name = "tiny"
classes = 10
input = { resolution = 28, channels = 1 }
[[layers]]
op = "conv"
out = [4, 8]
kernel = 3
stride = 2
[[layers]]
op = "global_pool"
[[layers]]
op = "linear"
"#;

#[test]
fn a_low_fidelity_trial_trains_the_shorter_recipe() {
    let space = Arc::new(space_from_toml(TINY, "tiny.toml").unwrap());
    let data = Arc::new(FashionMnist::embedded().unwrap());
    let config = TrainConfig {
        epochs: 4,
        train_subset: 2000,
        valid_size: 200,
        batch_size: 32,
        ..TrainConfig::default()
    };
    let low_recipe = config.at_low_fidelity();
    assert_eq!((low_recipe.epochs, low_recipe.train_subset), (1, 500));
    let eval = TrainEvaluator::new(space.clone(), data, config);
    let arch = space.default_arch();
    let at = |fidelity| {
        eval.evaluate(&TrialRequest {
            id: 0,
            arch: &arch,
            seed: 1,
            fidelity,
        })
        .unwrap()
    };
    let (low, full) = (at(Fidelity::Low), at(Fidelity::Full));
    assert_eq!(full.metrics[EPOCHS_METRIC], 4.0);
    assert_eq!(low.metrics[EPOCHS_METRIC], 0.25); // 1 epoch over a quarter of the images
    assert!(low.metrics["train_seconds"] < full.metrics["train_seconds"]);
    assert_ne!(low.reward, full.reward);
}

#[test]
fn low_fidelity_knobs_are_checked() {
    let bad = |c: TrainConfig| c.validate().unwrap_err();
    let e = bad(TrainConfig {
        low_epochs: Some(3),
        ..TrainConfig::default()
    });
    assert!(e.contains("low_epochs must be 1 to epochs (2)"), "{e}");
    let e = bad(TrainConfig {
        low_train_subset: Some(0),
        ..TrainConfig::default()
    });
    assert!(e.contains("low_train_subset"), "{e}");
    let c = TrainConfig {
        low_epochs: Some(2),
        low_train_subset: Some(4000),
        ..TrainConfig::default()
    };
    c.validate().unwrap();
    let l = c.at_low_fidelity();
    assert_eq!((l.epochs, l.train_subset, l.low_epochs), (2, 4000, None));
    // A study that sets neither stores the [train] table as before (its hash is unchanged).
    let json = serde_json::to_string(&TrainConfig::default()).unwrap();
    assert!(!json.contains("low_"), "{json}");
}

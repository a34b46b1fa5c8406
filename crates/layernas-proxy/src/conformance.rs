//! The engine conformance suite: every training engine (burn in `layernas-train`, libtorch in
//! `torch/tests`) implements [`TrainEngine`] and runs [`check_engine`], which holds it to the
//! one lowering ([`crate::lower`]) and the one recipe: for networks covering every op of the
//! schema, the same parameter count, the same shape after every block, and two training steps
//! (forward and backward through every op) to a finite loss; for a seed, the same result
//! twice; and after a short training on the embedded Fashion-MNIST subset, an accuracy above a
//! floor that both engines reach.

use crate::{lower, FashionMnist, TrainConfig, TrainResult};
use layernas_spaces::network::{Act, Input, Network, Op, PoolKind};

/// What the suite needs of an engine.
pub trait TrainEngine {
    /// The engine's name, for messages.
    fn name(&self) -> &str;
    /// Trainable parameters of the engine's model of `network`.
    fn params(&self, network: &Network) -> Result<u64, String>;
    /// `[channels, height, width]` after each block, and the logits' shape, of the engine's
    /// model of `network` on a batch of `batch` inputs.
    fn shapes(
        &self,
        network: &Network,
        batch: usize,
    ) -> Result<(Vec<[usize; 3]>, [usize; 2]), String>;
    /// Trains `network` (a proxy) on `data` under `config` with `seed`.
    fn train(
        &self,
        network: &Network,
        data: &FashionMnist,
        config: &TrainConfig,
        seed: u64,
    ) -> Result<TrainResult, String>;
}

/// An [`Op::Conv`]: `out` channels, a `kernel`x`kernel` window, `stride`, `groups` (1: dense),
/// a bias or not, batch norm after it or not, then `act`. Shorthand for the networks of this
/// suite and of other crates' tests.
pub fn conv(out: u32, kernel: u32, stride: u32, groups: u32, bias: bool, bn: bool, act: Act) -> Op {
    Op::Conv {
        out,
        kernel,
        stride,
        groups,
        bias,
        bn,
        act,
    }
}

/// Networks on Fashion-MNIST's 28x28x1 input with 10 classes that, together, use every op of
/// the schema and every structural case of the lowering (MBConv with and without expansion,
/// squeeze-and-excite and residual; NATS cells with and without the skip convolution; ResNet
/// blocks with each shortcut; depthwise and grouped convolutions; every activation and pool).
pub fn networks() -> Vec<Network> {
    let input = Input {
        resolution: 28,
        channels: 1,
    };
    let net = |layers: Vec<Op>| Network {
        input,
        layers,
        classes: 10,
    };
    vec![
        net(vec![
            conv(8, 3, 2, 1, false, true, Act::Relu),
            conv(8, 3, 1, 8, false, true, Act::Relu6),
            conv(16, 1, 1, 2, true, false, Act::Hswish),
            Op::Pool {
                kind: PoolKind::Max,
                kernel: 2,
                stride: 2,
            },
            Op::BnAct { act: Act::Relu },
            Op::Linear {
                out: 24,
                bias: true,
                act: Act::Relu,
            },
            Op::Linear {
                out: 0,
                bias: false,
                act: Act::None,
            },
        ]),
        net(vec![
            conv(8, 3, 2, 1, false, true, Act::Hswish),
            // No expansion (expanded == input), squeeze-and-excite, residual.
            Op::Mbconv {
                expanded: 8,
                out: 8,
                kernel: 3,
                stride: 1,
                se: Some(4),
                act: Act::Relu,
            },
            // Expansion, stride 2, no residual.
            Op::Mbconv {
                expanded: 24,
                out: 12,
                kernel: 5,
                stride: 2,
                se: None,
                act: Act::Hswish,
            },
            Op::Mbconv {
                expanded: 36,
                out: 12,
                kernel: 3,
                stride: 1,
                se: Some(8),
                act: Act::Relu6,
            },
            Op::Pool {
                kind: PoolKind::Avg,
                kernel: 3,
                stride: 1,
            },
            Op::GlobalPool,
            Op::Linear {
                out: 0,
                bias: true,
                act: Act::None,
            },
        ]),
        net(vec![
            conv(8, 3, 1, 1, false, true, Act::None),
            Op::NatsCell { out: 8 },
            Op::ResBlock { out: 16, stride: 2 },
            Op::NatsCell { out: 12 },
            Op::ResBlock { out: 16, stride: 1 },
            Op::ResBlock { out: 16, stride: 1 },
            Op::BnAct { act: Act::Relu },
        ]),
    ]
}

/// A small CNN that learns Fashion-MNIST in one short epoch.
pub fn learner() -> Network {
    Network {
        input: Input {
            resolution: 28,
            channels: 1,
        },
        layers: vec![
            conv(16, 3, 2, 1, false, true, Act::Relu),
            Op::Mbconv {
                expanded: 32,
                out: 24,
                kernel: 3,
                stride: 2,
                se: Some(8),
                act: Act::Hswish,
            },
            Op::GlobalPool,
            Op::Linear {
                out: 0,
                bias: true,
                act: Act::None,
            },
        ],
        classes: 10,
    }
}

/// The recipe of the suite's training check: two epochs of 3,000 embedded images (500 held
/// out for validation), batches of 32, learning rate 0.05, one thread.
pub fn recipe() -> TrainConfig {
    TrainConfig {
        epochs: 2,
        train_subset: 3000,
        valid_size: 500,
        batch_size: 32,
        learning_rate: 0.05,
        threads: 1,
        ..TrainConfig::default()
    }
}

/// The recipe of the suite's step check on [`networks`]: two batches of 32 (one epoch of 64
/// images, 100 held out), enough to run the backward pass of every op and one update, then a
/// batch-norm recalibration over both batches.
pub fn step_recipe() -> TrainConfig {
    TrainConfig {
        epochs: 1,
        train_subset: 64,
        valid_size: 100,
        batch_size: 32,
        bn_recalibration: 2,
        ..recipe()
    }
}

/// The validation accuracy (%) every engine must reach with [`recipe`] on [`learner`] (10
/// classes: chance is 10%).
pub const ACCURACY_FLOOR: f64 = 60.0;

/// Runs the suite; panics with a message naming the engine, the network and the difference.
pub fn check_engine(engine: &dyn TrainEngine) {
    let name = engine.name();
    for (i, network) in networks().iter().chain([&learner()]).enumerate() {
        let lowered = lower(network).expect("the suite's networks are valid");
        let params = engine
            .params(network)
            .unwrap_or_else(|e| panic!("{name}: network {i}: {e}"));
        assert_eq!(
            params,
            lowered.params(),
            "{name}: network {i}: parameter count differs from the lowering's"
        );
        let (shapes, logits) = engine
            .shapes(network, 3)
            .unwrap_or_else(|e| panic!("{name}: network {i}: {e}"));
        assert_eq!(
            shapes, lowered.shapes,
            "{name}: network {i}: block output shapes differ from the lowering's"
        );
        assert_eq!(logits, [3, lowered.classes], "{name}: network {i}: logits");
    }
    let data = FashionMnist::embedded().expect("the embedded subset loads");
    // Shapes run the forward pass only; an op whose backward pass fails (libtorch refuses a
    // gradient through an output that was later modified in place) must fail here, not in a
    // search.
    for (i, network) in networks().iter().enumerate() {
        let r = engine
            .train(network, &data, &step_recipe(), 1)
            .unwrap_or_else(|e| panic!("{name}: network {i}: training failed: {e}"));
        assert!(
            r.final_loss.is_finite(),
            "{name}: network {i}: loss {} after two training steps",
            r.final_loss
        );
    }
    // A recipe that skips the test set gets no test accuracy; the same recipe without the
    // switch scores it.
    let skips = TrainConfig {
        skip_test: true,
        ..step_recipe()
    };
    for (recipe, scored) in [(skips, false), (step_recipe(), true)] {
        let r = engine
            .train(&learner(), &data, &recipe, 1)
            .unwrap_or_else(|e| panic!("{name}: training failed: {e}"));
        assert_eq!(
            r.test_accuracy.is_some(),
            scored,
            "{name}: skip_test = {}: test accuracy {:?}",
            recipe.skip_test,
            r.test_accuracy
        );
    }
    let config = recipe();
    let first = engine
        .train(&learner(), &data, &config, 7)
        .unwrap_or_else(|e| panic!("{name}: training failed: {e}"));
    let again = engine
        .train(&learner(), &data, &config, 7)
        .unwrap_or_else(|e| panic!("{name}: training failed: {e}"));
    assert_eq!(
        (first.valid_accuracy, first.test_accuracy),
        (again.valid_accuracy, again.test_accuracy),
        "{name}: one seed gave two results"
    );
    assert!(
        first.valid_accuracy >= ACCURACY_FLOOR,
        "{name}: validation accuracy {:.2}% after the suite's recipe, below the floor {ACCURACY_FLOOR}%",
        first.valid_accuracy
    );
    eprintln!(
        "{name}: conformance passed; suite recipe: validation {:.2}%, test {}",
        first.valid_accuracy,
        first
            .test_accuracy
            .map_or("not scored".to_string(), |t| format!("{t:.2}%"))
    );
}

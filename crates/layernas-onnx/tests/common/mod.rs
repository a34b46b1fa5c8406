//! What the export tests share: networks covering every op, the built-in spaces' backbones on a
//! small input, weights with non-trivial batch norm, and the trainer's own forward pass.

#![allow(dead_code)]

use burn::prelude::*;
use layernas_proxy::conformance::{self, conv};
use layernas_proxy::{lower, TrainConfig, Weights};
use layernas_spaces::network::{Act, Input, Network, Op, PoolKind};
use layernas_spaces::TemplateSpace;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The largest difference allowed between the trainer's logits and an ONNX runtime's.
pub const TOLERANCE: f32 = 1e-4;

/// One network per activation, using it in every position that takes one: a convolution, an
/// MBConv (expansion, depthwise, squeeze-and-excite, residual), a grouped convolution with bias
/// and batch norm, batch norm + activation, and fully connected layers (one followed by batch
/// norm, whose input is then a 1x1 map, and a 1x1 convolution).
pub fn activation_networks() -> Vec<(String, Network)> {
    [Act::None, Act::Relu, Act::Relu6, Act::Hswish]
        .into_iter()
        .map(|act| {
            let layers = vec![
                conv(8, 3, 1, 1, false, true, act),
                Op::Mbconv {
                    expanded: 16,
                    out: 8,
                    kernel: 3,
                    stride: 1,
                    se: Some(4),
                    act,
                },
                conv(12, 3, 2, 4, true, true, act),
                Op::BnAct { act },
                Op::Pool {
                    kind: PoolKind::Avg,
                    kernel: 2,
                    stride: 2,
                },
                Op::Pool {
                    kind: PoolKind::Max,
                    kernel: 3,
                    stride: 1,
                },
                Op::Linear {
                    out: 16,
                    bias: true,
                    act,
                },
                Op::BnAct { act },
                conv(12, 1, 1, 1, true, false, act),
                Op::Linear {
                    out: 0,
                    bias: true,
                    act: Act::None,
                },
            ];
            (
                format!("activation {}", act.name()),
                Network {
                    input: Input {
                        resolution: 12,
                        channels: 3,
                    },
                    layers,
                    classes: 5,
                },
            )
        })
        .collect()
}

/// The engine conformance suite's networks (every op and structural case of the lowering).
pub fn op_networks() -> Vec<(String, Network)> {
    let names = [
        "convs (depthwise, grouped), max pool, bn_act, linear",
        "mbconv (SE, residual, expansion), avg pool, global pool",
        "nats cells, resnet blocks (pooled and projection shortcuts)",
    ];
    let nets = conformance::networks();
    assert_eq!(nets.len(), names.len(), "name every conformance network");
    names.iter().map(|n| n.to_string()).zip(nets).collect()
}

/// Every built-in network space (nb201 has no network: its accuracies come from its table).
fn built_in_spaces() -> Vec<(String, TemplateSpace)> {
    vec![
        ("mobilenetv2".into(), layernas_spaces::mobilenet_v2_space()),
        (
            "mobilenetv3-large".into(),
            layernas_spaces::mobilenet_v3_space(true),
        ),
        (
            "mobilenetv3-small".into(),
            layernas_spaces::mobilenet_v3_space(false),
        ),
        ("nats-sss".into(), layernas_spaces::nats_sss_space(32, 10)),
    ]
}

fn backbone(space: &TemplateSpace) -> Network {
    let arch = space
        .backbone()
        .cloned()
        .unwrap_or_else(|| layernas_core::SearchSpace::default_arch(space));
    space.validate(&arch).unwrap()
}

/// Every built-in network space's backbone as the space defines it: full width and depth, its
/// own input and classes.
pub fn full_backbone_networks() -> Vec<(String, Network)> {
    built_in_spaces()
        .into_iter()
        .map(|(name, space)| (format!("{name} backbone (full)"), backbone(&space)))
        .collect()
}

/// Every built-in network space's backbone (and the example spaces'), as the trainer's proxy
/// on a small RGB input: 32x32x3, 10 classes, width 0.25, every block kept.
pub fn backbone_networks() -> Vec<(String, Network)> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/spaces");
    let mut spaces = built_in_spaces();
    for file in ["fashion-cnn.toml", "tiny-mobilenet.toml"] {
        let path = format!("{root}/{file}");
        let text = std::fs::read_to_string(&path).unwrap();
        spaces.push((
            file.into(),
            layernas_spaces::space_from_toml(&text, &path).unwrap(),
        ));
    }
    let config = TrainConfig {
        width: 0.25,
        depth: 1.0,
        ..TrainConfig::default()
    };
    spaces
        .into_iter()
        .map(|(name, space)| {
            let network = backbone(&space);
            let input = Input {
                resolution: 32,
                channels: 3,
            };
            let proxy = layernas_proxy::proxy(&network, input, 10, &config).unwrap();
            (format!("{name} backbone"), proxy)
        })
        .collect()
}

/// burn's random generator is one for the process: a test that seeds it and then draws (or
/// that draws at all: building a model does) holds this lock, so that a test running beside it
/// cannot reseed or draw in between and change what it gets.
pub fn seed_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Burn's seeded initial weights of `network`, with batch norm made non-trivial: scale, shift,
/// running mean and variance drawn at random (a fresh network's are 1, 0, 0, 1, which would
/// hide a mistake in their use).
pub fn weights(network: &Network, seed: u64) -> Weights {
    let device = Device::flex();
    let mut weights = {
        let _seeded = seed_lock();
        device.seed(seed);
        layernas_train::build(network, &device).unwrap().weights()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for p in lower(network).unwrap().parameters() {
        let range = if p.name.ends_with(".bn.weight") {
            0.5..1.5
        } else if p.name.ends_with(".bn.bias") || p.name.ends_with(".running_mean") {
            -0.3..0.3
        } else if p.name.ends_with(".running_var") {
            0.5..2.0
        } else {
            continue;
        };
        for v in weights.get_mut(&p.name).unwrap().data_mut() {
            *v = rng.random_range(range.clone());
        }
    }
    weights
}

/// `batch` random images of `network`'s input, NCHW.
pub fn images(network: &Network, batch: usize, seed: u64) -> Vec<f32> {
    let i = network.input;
    let n = batch * (i.channels * i.resolution * i.resolution) as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x1234);
    (0..n).map(|_| rng.random_range(-2.0..2.0)).collect()
}

/// The trainer's logits (eval mode: batch norm uses its running statistics) of `images`.
pub fn burn_logits(network: &Network, weights: &Weights, images: &[f32], batch: usize) -> Vec<f32> {
    // predict builds a model (drawing initial weights it then replaces).
    let logits = {
        let _seeded = seed_lock();
        layernas_train::predict(network, weights, images).unwrap()
    };
    assert!(logits.len().is_multiple_of(batch));
    logits
}

/// The largest absolute difference, and the largest absolute logit.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> (f32, f32) {
    assert_eq!(a.len(), b.len());
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    let scale = a.iter().map(|x| x.abs()).fold(0.0, f32::max);
    (diff, scale)
}

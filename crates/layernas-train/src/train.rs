//! Proxy training: SGD with Nesterov momentum and a cosine learning-rate schedule.

use crate::data::{Dataset, FashionMnist};
use crate::model::Net;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, SgdConfig};
use burn::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The optimizer of the proxy training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with Nesterov momentum (no dampening, unlike burn's default 0.1).
    Sgd,
    /// Adam (betas 0.9, 0.999).
    Adam,
}

/// The learning-rate schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Linear warm-up over a quarter epoch, then cosine decay to 0.
    Cosine,
    /// The same warm-up, then constant.
    Constant,
}

/// Every knob of the proxy training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Epochs over the training subset.
    pub epochs: usize,
    /// Training images used (the rest of the training set is not used; the validation images
    /// are held out first).
    pub train_subset: usize,
    /// Images held out of the training set as the validation split (the reward).
    pub valid_size: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Peak learning rate (cosine decay to 0 after a one-epoch-fraction warm-up).
    pub learning_rate: f64,
    /// SGD momentum (Nesterov, no dampening).
    pub momentum: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Channel-width multiplier applied to the network (a proxy).
    pub width: f64,
    /// Optimizer.
    pub optimizer: OptimizerKind,
    /// Learning-rate schedule.
    pub schedule: Schedule,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 2,
            train_subset: 4000,
            valid_size: 1000,
            batch_size: 64,
            learning_rate: 0.05,
            momentum: 0.9,
            weight_decay: 5e-4,
            width: 1.0,
            optimizer: OptimizerKind::Sgd,
            schedule: Schedule::Cosine,
        }
    }
}

/// What a training run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainResult {
    /// Accuracy (%) on the validation split held out of the training images.
    pub valid_accuracy: f64,
    /// Accuracy (%) on the test images.
    pub test_accuracy: f64,
    /// Wall-clock seconds of the training epochs.
    pub train_seconds: f64,
    /// Training images per second.
    pub images_per_second: f64,
    /// Loss of the last batch.
    pub final_loss: f64,
}

fn batch(data: &Dataset, idx: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let size = data.rows * data.cols;
    let mut pixels = Vec::with_capacity(idx.len() * size);
    let mut labels = Vec::with_capacity(idx.len());
    for &i in idx {
        pixels.extend(
            data.pixels[i * size..(i + 1) * size]
                .iter()
                // Fashion-MNIST mean and standard deviation.
                .map(|&p| (p as f32 / 255.0 - 0.286) / 0.353),
        );
        labels.push(data.labels[i] as i64);
    }
    let x = Tensor::<4>::from_data(
        TensorData::new(pixels, [idx.len(), 1, data.rows, data.cols]),
        device,
    );
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [idx.len()]), device);
    (x, y)
}

fn accuracy(model: &Net, data: &Dataset, idx: &[usize], device: &Device) -> f64 {
    let mut correct = 0i64;
    for chunk in idx.chunks(250) {
        let (x, y) = batch(data, chunk, device);
        let predicted = model.forward(x).argmax(1).reshape([chunk.len()]);
        correct += predicted.equal(y).int().sum().into_scalar::<i64>();
    }
    100.0 * correct as f64 / idx.len().max(1) as f64
}

/// Trains `model` (built on an autodiff device) and measures it. Deterministic for a seed.
pub fn train(
    mut model: Net,
    data: &FashionMnist,
    config: &TrainConfig,
    seed: u64,
    device: &Device,
) -> TrainResult {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..data.train.len()).collect();
    order.shuffle(&mut rng);
    let valid_size = config.valid_size.min(data.train.len() / 5);
    let (valid, rest) = order.split_at(valid_size);
    let mut train_idx: Vec<usize> = rest[..config.train_subset.min(rest.len())].to_vec();
    let steps_per_epoch = train_idx.len().div_ceil(config.batch_size.max(1));
    let total = (steps_per_epoch * config.epochs).max(1);
    let warmup = (steps_per_epoch / 4).max(1);
    let decay = Some(WeightDecayConfig::new(config.weight_decay as f32));
    let mut optim = match config.optimizer {
        OptimizerKind::Sgd => SgdConfig::new()
            .with_momentum(Some(MomentumConfig {
                momentum: config.momentum,
                dampening: 0.0,
                nesterov: true,
            }))
            .with_weight_decay(decay)
            .init(),
        OptimizerKind::Adam => AdamConfig::new().with_weight_decay(decay).init(),
    };
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let start = Instant::now();
    let mut step = 0usize;
    let mut final_loss = f64::NAN;
    for _ in 0..config.epochs {
        train_idx.shuffle(&mut rng);
        for chunk in train_idx.chunks(config.batch_size.max(1)) {
            let lr = if step < warmup {
                config.learning_rate * (step + 1) as f64 / warmup as f64
            } else if config.schedule == Schedule::Constant {
                config.learning_rate
            } else {
                let t = (step - warmup) as f64 / (total - warmup).max(1) as f64;
                0.5 * config.learning_rate * (1.0 + (std::f64::consts::PI * t).cos())
            };
            let (x, y) = batch(&data.train, chunk, device);
            let loss = loss_fn.forward(model.forward(x), y);
            final_loss = loss.clone().into_scalar::<f32>() as f64;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            step += 1;
        }
    }
    let train_seconds = start.elapsed().as_secs_f64();
    let eval = model.valid();
    let inner = device.clone().inner();
    let test_idx: Vec<usize> = (0..data.test.len()).collect();
    TrainResult {
        valid_accuracy: accuracy(&eval, &data.train, valid, &inner),
        test_accuracy: accuracy(&eval, &data.test, &test_idx, &inner),
        train_seconds,
        images_per_second: (train_idx.len() * config.epochs) as f64 / train_seconds.max(1e-9),
        final_loss,
    }
}

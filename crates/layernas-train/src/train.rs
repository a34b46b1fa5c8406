//! Proxy training: SGD with Nesterov momentum and a cosine learning-rate schedule.

use crate::model::Net;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, SgdConfig};
use burn::prelude::*;
use layernas_core::{Cancel, EvalError};
use layernas_proxy::{
    batch_data, Dataset, FashionMnist, OptimizerKind, Plan, TrainConfig, TrainResult,
};
use std::time::Instant;

fn batch(data: &Dataset, idx: &[usize], device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    tensors(data, batch_data(data, idx), device)
}

fn tensors(
    data: &Dataset,
    (pixels, labels): (Vec<f32>, Vec<i64>),
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>) {
    let n = labels.len();
    let x = Tensor::<4>::from_data(
        TensorData::new(pixels, [n, data.channels, data.rows, data.cols]),
        device,
    );
    let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), device);
    (x, y)
}

fn accuracy(
    model: &Net,
    data: &Dataset,
    idx: &[usize],
    device: &Device,
    cancel: &Cancel,
) -> Result<f64, EvalError> {
    let mut correct = 0i64;
    for chunk in idx.chunks(250) {
        if cancel.is_cancelled() {
            return Err(EvalError::Cancelled);
        }
        let (x, y) = batch(data, chunk, device);
        let predicted = model.forward(x).argmax(1).reshape([chunk.len()]);
        correct += predicted.equal(y).int().sum().into_scalar::<i64>();
    }
    Ok(100.0 * correct as f64 / idx.len().max(1) as f64)
}

/// Trains `model` (built on an autodiff device) and measures it. Deterministic for a seed (and
/// the thread count of the rayon pool it runs in).
pub fn train(
    model: Net,
    data: &FashionMnist,
    config: &TrainConfig,
    seed: u64,
    device: &Device,
) -> TrainResult {
    train_cancellable(model, data, config, seed, device, &Cancel::new())
        .expect("training that is never cancelled always finishes")
}

/// [`train`], stopping with [`EvalError::Cancelled`] at the next batch once `cancel` is set (a
/// trial timeout, a lost lease), so a trial given up on frees its threads.
pub fn train_cancellable(
    mut model: Net,
    data: &FashionMnist,
    config: &TrainConfig,
    seed: u64,
    device: &Device,
    cancel: &Cancel,
) -> Result<TrainResult, EvalError> {
    let mut plan = Plan::for_data(data, config, seed);
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
        for chunk in plan.epoch() {
            if cancel.is_cancelled() {
                return Err(EvalError::Cancelled);
            }
            let lr = plan.learning_rate(step);
            let (x, y) = tensors(&data.train, plan.train_batch(&data.train, &chunk), device);
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
    Ok(TrainResult {
        valid_accuracy: accuracy(&eval, &data.train, &plan.valid, &inner, cancel)?,
        test_accuracy: accuracy(&eval, &data.test, &test_idx, &inner, cancel)?,
        train_seconds,
        images_per_second: (plan.train.len() * config.epochs) as f64 / train_seconds.max(1e-9),
        final_loss,
    })
}

//! Proxy training: SGD with Nesterov momentum and a cosine learning-rate schedule.

use crate::model::Net;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, OptimizerRecord, SgdConfig};
use burn::prelude::*;
use burn::store::ModuleRecord;
use layernas_core::{Cancel, EvalError};
use layernas_proxy::{
    batch_data, Dataset, ImageData, OptimizerKind, Plan, PlanPosition, TrainConfig, TrainResult,
};
use serde::{Deserialize, Serialize};
use std::path::Path;
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
    data: &ImageData,
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
    model: Net,
    data: &ImageData,
    config: &TrainConfig,
    seed: u64,
    device: &Device,
    cancel: &Cancel,
) -> Result<TrainResult, EvalError> {
    let mut trainer = Trainer::new(model, data, config, seed, device);
    let start = Instant::now();
    let mut final_loss = f64::NAN;
    for _ in 0..config.epochs {
        final_loss = trainer.epoch(cancel, &mut |_, _| {})?.last_loss;
    }
    let train_seconds = start.elapsed().as_secs_f64();
    let (valid_accuracy, test_accuracy) = trainer.evaluate(cancel)?;
    Ok(TrainResult {
        valid_accuracy,
        test_accuracy,
        train_seconds,
        images_per_second: (trainer.plan.train.len() * config.epochs) as f64
            / train_seconds.max(1e-9),
        final_loss,
    })
}

/// The losses of one epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochLoss {
    /// Mean training loss over the epoch's batches.
    pub mean_loss: f64,
    /// Loss of its last batch.
    pub last_loss: f64,
}

/// A training run, one epoch at a time: the model, its optimizer, the recipe's plan and the
/// step count. [`train`] runs it to the end; `layernas train` checkpoints it between epochs
/// ([`Trainer::save`], [`Trainer::restore`]).
pub struct Trainer<'a> {
    model: Option<Net>,
    optim: ModuleOptimizer,
    plan: Plan,
    data: &'a ImageData,
    device: Device,
    loss_fn: CrossEntropyLoss,
    step: usize,
    epochs_done: usize,
    recalibration: usize,
    skip_test: bool,
}

impl<'a> Trainer<'a> {
    /// A run of `config` on `data` for `model` (built and initialised on an autodiff
    /// `device`), its batches drawn from `seed`.
    pub fn new(
        model: Net,
        data: &'a ImageData,
        config: &TrainConfig,
        seed: u64,
        device: &Device,
    ) -> Self {
        let decay = Some(WeightDecayConfig::new(config.weight_decay as f32));
        let optim = match config.optimizer {
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
        Trainer {
            model: Some(model),
            optim,
            plan: Plan::for_data(data, config, seed),
            data,
            device: device.clone(),
            loss_fn: CrossEntropyLossConfig::new().init(device),
            step: 0,
            epochs_done: 0,
            recalibration: config.bn_recalibration,
            skip_test: config.skip_test,
        }
    }

    /// Trains one epoch; `on_batch(done, total)` after each batch.
    pub fn epoch(
        &mut self,
        cancel: &Cancel,
        on_batch: &mut dyn FnMut(usize, usize),
    ) -> Result<EpochLoss, EvalError> {
        let batches = self.plan.epoch();
        let (mut sum, mut last) = (0.0, f64::NAN);
        for (i, chunk) in batches.iter().enumerate() {
            if cancel.is_cancelled() {
                return Err(EvalError::Cancelled);
            }
            let model = self
                .model
                .take()
                .expect("the model is back after every step");
            let lr = self.plan.learning_rate(self.step);
            let (x, y) = tensors(
                &self.data.train,
                self.plan.train_batch(&self.data.train, chunk),
                &self.device,
            );
            let loss = self.loss_fn.forward(model.forward(x), y);
            last = loss.clone().into_scalar::<f32>() as f64;
            sum += last;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            self.model = Some(self.optim.step(lr, model, grads));
            self.step += 1;
            on_batch(i + 1, batches.len());
        }
        self.epochs_done += 1;
        Ok(EpochLoss {
            mean_loss: sum / batches.len().max(1) as f64,
            last_loss: last,
        })
    }

    /// Batch-norm recalibration over the recipe's batches (none when it asks for none).
    fn recalibrate(&mut self, cancel: &Cancel) -> Result<(), EvalError> {
        if self.recalibration == 0 {
            return Ok(());
        }
        let (data, device) = (&self.data.train, &self.device);
        let batches = self
            .plan
            .recalibration_batches(self.recalibration)
            .into_iter()
            .map_while(|idx| (!cancel.is_cancelled()).then(|| batch(data, &idx, device).0));
        self.model
            .as_mut()
            .expect("the model is back after every step")
            .recalibrate_batch_norms(batches);
        if cancel.is_cancelled() {
            return Err(EvalError::Cancelled);
        }
        Ok(())
    }

    /// Validation and test accuracy (%) of the model as it is now, after the batch-norm
    /// recalibration the recipe asks for ([`TrainConfig::bn_recalibration`]; it replaces the
    /// running statistics whatever they were, so only the one before an evaluation counts).
    /// No test accuracy where the data has no test images or the recipe skips them
    /// ([`TrainConfig::skip_test`]).
    pub fn evaluate(&mut self, cancel: &Cancel) -> Result<(f64, Option<f64>), EvalError> {
        self.recalibrate(cancel)?;
        let eval = self.model().valid();
        let inner = self.device.clone().inner();
        let valid = accuracy(&eval, &self.data.train, &self.plan.valid, &inner, cancel)?;
        if self.skip_test || self.data.test.is_empty() {
            return Ok((valid, None));
        }
        let test_idx: Vec<usize> = (0..self.data.test.len()).collect();
        let test = accuracy(&eval, &self.data.test, &test_idx, &inner, cancel)?;
        Ok((valid, Some(test)))
    }

    /// The model (on the autodiff device).
    pub fn model(&self) -> &Net {
        self.model
            .as_ref()
            .expect("the model is back after every step")
    }

    /// Epochs trained so far.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// Training images per epoch.
    pub fn train_images(&self) -> usize {
        self.plan.train.len()
    }

    /// Validation images.
    pub fn valid_images(&self) -> usize {
        self.plan.valid.len()
    }

    /// Writes everything a resumed run needs into `dir` (existing): the model's and the
    /// optimizer's state (burnpack files `model.bpk`, `optimizer.bpk`), and the step count,
    /// epochs and the plan's position (returned, for the caller to store beside them).
    pub fn save(&self, dir: &Path) -> Result<TrainerState, String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            format!("cannot write {what} in {}: {e}", dir.display())
        };
        self.model()
            .clone()
            .into_record()
            .save(dir.join(MODEL_FILE))
            .map_err(|e| fail(MODEL_FILE, &e))?;
        self.optim
            .save(dir.join(OPTIMIZER_FILE))
            .map_err(|e| fail(OPTIMIZER_FILE, &e))?;
        Ok(TrainerState {
            step: self.step,
            epochs_done: self.epochs_done,
            plan: self.plan.position(),
        })
    }

    /// Continues the run saved in `dir` with `state` ([`Trainer::save`]); `self` must be a fresh
    /// run of the same network, data, recipe and seed.
    pub fn restore(&mut self, dir: &Path, state: &TrainerState) -> Result<(), String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            format!("cannot read checkpoint {}: {e}", dir.join(what).display())
        };
        let record = ModuleRecord::load(dir.join(MODEL_FILE)).map_err(|e| fail(MODEL_FILE, &e))?;
        let model = self
            .model
            .take()
            .expect("the model is back after every step");
        self.model = Some(
            model
                .try_load_record(record)
                .map_err(|e| fail(MODEL_FILE, &e))?,
        );
        let record = OptimizerRecord::load(dir.join(OPTIMIZER_FILE))
            .map_err(|e| fail(OPTIMIZER_FILE, &e))?;
        self.optim = self.optim.clone().load_record(record);
        self.plan.seek(&state.plan).map_err(|e| fail("state", &e))?;
        self.step = state.step;
        self.epochs_done = state.epochs_done;
        Ok(())
    }
}

/// The model's state in a checkpoint folder.
pub const MODEL_FILE: &str = "model.bpk";
/// The optimizer's state in a checkpoint folder.
pub const OPTIMIZER_FILE: &str = "optimizer.bpk";

/// A [`Trainer`]'s position beside its saved model and optimizer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer steps taken (the learning-rate schedule's position).
    pub step: usize,
    /// Epochs trained.
    pub epochs_done: usize,
    /// Where the plan's batches stand.
    pub plan: PlanPosition,
}

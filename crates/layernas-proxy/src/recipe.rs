//! The training recipe: every knob, the validation split, the batches and the learning-rate
//! schedule. Both engines follow it, so a seed gives them the same images in the same order.

use crate::data::{Dataset, ImageData};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

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

/// The engine that trains the candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// burn 0.22.1 on its pure-Rust Flex CPU backend (always built).
    Burn,
    /// libtorch through tch 0.26 (the separate `layernas-torch` program, `torch/`): CPU or CUDA.
    Torch,
}

impl Engine {
    /// Name as in study files.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Burn => "burn",
            Engine::Torch => "torch",
        }
    }
}

/// The most epochs a trial may train.
pub const MAX_EPOCHS: usize = 10_000;
/// The most images (training subset, batch, validation split) a setting may name.
pub const MAX_IMAGES: usize = 10_000_000;
/// The most threads one trial may train on.
pub const MAX_THREADS: usize = 1_024;

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
    /// Depth multiplier in (0, 1] (a proxy): each run of repeated residual blocks keeps
    /// `ceil(depth * (n + 1)) - 1` of its `n` blocks (the stage's first, shape-changing block
    /// always stays), as EfficientNet scales a stage's repeats.
    pub depth: f64,
    /// Threads one trial's training uses (results are deterministic for a seed and this count).
    pub threads: usize,
    /// Optimizer.
    pub optimizer: OptimizerKind,
    /// Learning-rate schedule.
    pub schedule: Schedule,
    /// Training engine.
    pub engine: Engine,
    /// Device of the torch engine: `cpu`, `cuda` or `cuda:N` (the burn engine runs on the CPU).
    pub device: String,
    /// Epochs of a low-fidelity trial (multi-fidelity search), 1 to `epochs` [default: a
    /// quarter of `epochs`, at least 1]. Written out only when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low_epochs: Option<usize>,
    /// Training images of a low-fidelity trial, 1 to `train_subset` [default: a quarter of
    /// `train_subset`, at least 1]. Written out only when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub low_train_subset: Option<usize>,
    /// Augmentation: pad each training image by this many pixels (black) on every side and
    /// crop a random window of its size, 0 to 64 [default: 0, none]. Written out only when set.
    #[serde(skip_serializing_if = "is_zero")]
    pub random_crop: usize,
    /// Augmentation: mirror each training image left to right with probability 1/2 [default:
    /// false]. Written out only when set.
    #[serde(skip_serializing_if = "is_false")]
    pub horizontal_flip: bool,
    /// Batch-norm recalibration: before the trained network is evaluated (after the last
    /// epoch of a trial; after every epoch of `layernas train`, which evaluates each), pass this
    /// many training batches (un-augmented, training mode, no weight update) through it and
    /// replace every batch norm's running statistics with the plain average of their batch
    /// statistics, 0 to 1,000 [default: 0, keep the running averages]. A short proxy training leaves running
    /// averages (momentum 0.1) that lag far behind the weights, which can put a deep network's
    /// evaluation at chance. Written out only when set.
    #[serde(skip_serializing_if = "is_zero")]
    pub bn_recalibration: usize,
    /// Score trials on the validation split only: the test images are never evaluated, and a
    /// trial reports no test accuracy [default: false, score both]. A search's reward is the
    /// validation accuracy, so the test set's forward passes (10,000 images on Fashion-MNIST,
    /// more than a short proxy trains on) are spent on a figure the search never uses. Written
    /// out only when set.
    #[serde(skip_serializing_if = "is_false")]
    pub skip_test: bool,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The largest `random_crop` padding.
pub const MAX_CROP_PADDING: usize = 64;
/// The most batches of a batch-norm recalibration.
pub const MAX_RECALIBRATION_BATCHES: usize = 1_000;

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
            depth: 1.0,
            threads: 1,
            optimizer: OptimizerKind::Sgd,
            schedule: Schedule::Cosine,
            engine: Engine::Burn,
            device: "cpu".into(),
            low_epochs: None,
            low_train_subset: None,
            random_crop: 0,
            horizontal_flip: false,
            bn_recalibration: 0,
            skip_test: false,
        }
    }
}

impl TrainConfig {
    /// Checks every knob; the message names the first bad one.
    ///
    /// The ranges (also in the README): `epochs` 1..=10,000; `train_subset` and `batch_size`
    /// 1..=10,000,000; `valid_size` 0..=10,000,000; `threads` 1..=1,024; `width` in (0, 100];
    /// `learning_rate` in (0, 100]; `depth` in (0, 1]; `momentum` in [0, 1); `weight_decay` in
    /// [0, 1]. Beyond them no training is meaningful, and huge counts would only exhaust memory.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v, max) in [
            ("epochs", self.epochs, MAX_EPOCHS),
            ("train_subset", self.train_subset, MAX_IMAGES),
            ("batch_size", self.batch_size, MAX_IMAGES),
            ("threads", self.threads, MAX_THREADS),
        ] {
            if v == 0 {
                return Err(format!("invalid train setting: {name} must be at least 1"));
            }
            if v > max {
                return Err(format!(
                    "invalid train setting: {name} must be at most {max} (got {v})"
                ));
            }
        }
        if self.valid_size > MAX_IMAGES {
            return Err(format!(
                "invalid train setting: valid_size must be in 0..={MAX_IMAGES} (got {})",
                self.valid_size
            ));
        }
        for (name, v) in [("width", self.width), ("learning_rate", self.learning_rate)] {
            if !(v.is_finite() && v > 0.0 && v <= 100.0) {
                return Err(format!(
                    "invalid train setting: {name} must be in (0, 100] (got {v})"
                ));
            }
        }
        if !(self.momentum >= 0.0 && self.momentum < 1.0) {
            return Err(format!(
                "invalid train setting: momentum must be in [0, 1) (got {})",
                self.momentum
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay <= 1.0) {
            return Err(format!(
                "invalid train setting: weight_decay must be in [0, 1] (got {})",
                self.weight_decay
            ));
        }
        if !(self.depth > 0.0 && self.depth <= 1.0) {
            return Err(format!(
                "invalid train setting: depth must be in (0, 1] (got {})",
                self.depth
            ));
        }
        for (name, v, max, of) in [
            ("low_epochs", self.low_epochs, self.epochs, "epochs"),
            (
                "low_train_subset",
                self.low_train_subset,
                self.train_subset,
                "train_subset",
            ),
        ] {
            if let Some(v) = v {
                if v == 0 || v > max {
                    return Err(format!(
                        "invalid train setting: {name} must be 1 to {of} ({max}) (got {v})"
                    ));
                }
            }
        }
        if self.random_crop > MAX_CROP_PADDING {
            return Err(format!(
                "invalid train setting: random_crop must be 0 to {MAX_CROP_PADDING} pixels of \
                 padding (got {})",
                self.random_crop
            ));
        }
        if self.bn_recalibration > MAX_RECALIBRATION_BATCHES {
            return Err(format!(
                "invalid train setting: bn_recalibration must be 0 to \
                 {MAX_RECALIBRATION_BATCHES} batches (got {})",
                self.bn_recalibration
            ));
        }
        match self.engine {
            Engine::Burn if self.device != "cpu" => Err(format!(
                "invalid train setting: the burn engine runs on the CPU only (device = \"{}\"); \
                 use engine = \"torch\" for CUDA",
                self.device
            )),
            _ => parse_device(&self.device).map(|_| ()),
        }
    }
}

impl TrainConfig {
    /// The recipe of a low-fidelity trial: `low_epochs` over `low_train_subset` images (by
    /// default a quarter of each, at least 1); every other knob as given.
    pub fn at_low_fidelity(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.low_epochs.unwrap_or(self.epochs.div_ceil(4)).max(1),
            train_subset: self
                .low_train_subset
                .unwrap_or(self.train_subset.div_ceil(4))
                .max(1),
            low_epochs: None,
            low_train_subset: None,
            ..self.clone()
        }
    }

    /// A trial's training cost in epochs of this (full-fidelity) recipe's training subset:
    /// `epochs`, or for `low` (a recipe from [`at_low_fidelity`](Self::at_low_fidelity)) its
    /// epochs scaled by its share of the images.
    pub fn epochs_spent(&self, low: Option<&TrainConfig>) -> f64 {
        match low {
            None => self.epochs as f64,
            Some(l) => l.epochs as f64 * l.train_subset as f64 / self.train_subset.max(1) as f64,
        }
    }
}

/// A device string: `None` for the CPU, `Some(n)` for CUDA device `n`.
pub fn parse_device(device: &str) -> Result<Option<usize>, String> {
    match device {
        "cpu" => Ok(None),
        "cuda" => Ok(Some(0)),
        other => other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(Some)
            .ok_or_else(|| {
                format!("invalid train setting: device {other:?} (expected cpu, cuda or cuda:N)")
            }),
    }
}

/// What a training run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainResult {
    /// Accuracy (%) on the validation split held out of the training images.
    pub valid_accuracy: f64,
    /// Accuracy (%) on the test images; `None` where there are none or the recipe skips them
    /// ([`TrainConfig::skip_test`]).
    pub test_accuracy: Option<f64>,
    /// Wall-clock seconds of the training epochs.
    pub train_seconds: f64,
    /// Training images per second.
    pub images_per_second: f64,
    /// Loss of the last batch.
    pub final_loss: f64,
}

/// The data split and learning-rate schedule of one training run, shared by the engines so
/// that they see the same images in the same order for a seed.
pub struct Plan {
    /// Validation images (indices into the training set), held out before anything else.
    pub valid: Vec<usize>,
    /// Training images.
    pub train: Vec<usize>,
    rng: ChaCha8Rng,
    batch_size: usize,
    total: usize,
    warmup: usize,
    learning_rate: f64,
    schedule: Schedule,
    /// Augmentation draws: a stream of its own, so that turning augmentation on leaves the
    /// split and the batches as they were.
    augment_rng: ChaCha8Rng,
    random_crop: usize,
    horizontal_flip: bool,
}

impl Plan {
    /// The split and schedule of a training set of `train_images` images under `config`.
    pub fn new(train_images: usize, config: &TrainConfig, seed: u64) -> Plan {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..train_images).collect();
        order.shuffle(&mut rng);
        let valid_size = config.valid_size.min(train_images / 5);
        let (valid, rest) = order.split_at(valid_size);
        Plan::with_split(valid.to_vec(), rest, rng, config, seed)
    }

    /// The split and schedule of `data` under `config`: the data's own validation split where
    /// it fixes one ([`ImageData::held_out`]; the seed then shuffles the rest), else
    /// [`Plan::new`]'s.
    pub fn for_data(data: &ImageData, config: &TrainConfig, seed: u64) -> Plan {
        match data.held_out {
            None => Plan::new(data.train.len(), config, seed),
            Some(held) => {
                let held = held.min(data.train.len());
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let mut rest: Vec<usize> = (held..data.train.len()).collect();
                rest.shuffle(&mut rng);
                Plan::with_split((0..held).collect(), &rest, rng, config, seed)
            }
        }
    }

    fn with_split(
        valid: Vec<usize>,
        rest: &[usize],
        rng: ChaCha8Rng,
        config: &TrainConfig,
        seed: u64,
    ) -> Plan {
        let train = rest[..config.train_subset.min(rest.len())].to_vec();
        let mut augment_rng = ChaCha8Rng::seed_from_u64(seed);
        augment_rng.set_stream(1);
        let batch_size = config.batch_size.max(1);
        let steps_per_epoch = train.len().div_ceil(batch_size);
        Plan {
            valid,
            train,
            rng,
            augment_rng,
            random_crop: config.random_crop,
            horizontal_flip: config.horizontal_flip,
            batch_size,
            total: (steps_per_epoch * config.epochs).max(1),
            warmup: (steps_per_epoch / 4).max(1),
            learning_rate: config.learning_rate,
            schedule: config.schedule,
        }
    }

    /// The next epoch's mini-batches (a fresh shuffle).
    pub fn epoch(&mut self) -> Vec<Vec<usize>> {
        self.train.shuffle(&mut self.rng);
        self.train
            .chunks(self.batch_size)
            .map(<[usize]>::to_vec)
            .collect()
    }

    /// Learning rate of step `step` (0-based): linear warm-up, then cosine or constant.
    pub fn learning_rate(&self, step: usize) -> f64 {
        let peak = self.learning_rate;
        if step < self.warmup {
            peak * (step + 1) as f64 / self.warmup as f64
        } else if self.schedule == Schedule::Constant {
            peak
        } else {
            let t = (step - self.warmup) as f64 / (self.total - self.warmup).max(1) as f64;
            0.5 * peak * (1.0 + (std::f64::consts::PI * t).cos())
        }
    }
}

/// Where a [`Plan`] stands between epochs: the training images in their current order and the
/// positions of the shuffling and augmentation generators. A checkpoint stores it, so that a
/// resumed training draws the same batches, cropped and flipped the same way, as one never
/// stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPosition {
    /// The training images, in the order the last epoch left them.
    pub train: Vec<usize>,
    /// The shuffling generator's word position (a `u128`, as decimal text).
    pub shuffle_word: String,
    /// The augmentation generator's word position (a `u128`, as decimal text). Checkpoints
    /// written before augmentation existed lack it: their generator never moved, so it reads
    /// as `"0"`.
    #[serde(default = "zero_word")]
    pub augment_word: String,
}

fn zero_word() -> String {
    "0".into()
}

impl Plan {
    /// Where the plan stands now.
    pub fn position(&self) -> PlanPosition {
        PlanPosition {
            train: self.train.clone(),
            shuffle_word: self.rng.get_word_pos().to_string(),
            augment_word: self.augment_rng.get_word_pos().to_string(),
        }
    }

    /// Continues from `position`, which must hold this plan's training images (in any order).
    pub fn seek(&mut self, position: &PlanPosition) -> Result<(), String> {
        let mut mine = self.train.clone();
        let mut theirs = position.train.clone();
        mine.sort_unstable();
        theirs.sort_unstable();
        if mine != theirs {
            return Err("the saved position holds other training images than this plan".into());
        }
        let word = |text: &str| -> Result<u128, String> {
            text.parse()
                .map_err(|_| format!("bad generator position {text:?}"))
        };
        let shuffle = word(&position.shuffle_word)?;
        let augment = word(&position.augment_word)?;
        self.train.clone_from(&position.train);
        self.rng.set_word_pos(shuffle);
        self.augment_rng.set_word_pos(augment);
        Ok(())
    }
}

impl Plan {
    /// The batches of a batch-norm recalibration ([`TrainConfig::bn_recalibration`]): the
    /// first `count` batches of the training images in their current order (at most one pass
    /// over them), to be fed un-augmented ([`batch_data`]).
    pub fn recalibration_batches(&self, count: usize) -> Vec<Vec<usize>> {
        self.train
            .chunks(self.batch_size)
            .take(count)
            .map(<[usize]>::to_vec)
            .collect()
    }

    /// A training batch: [`batch_data`] of images `idx`, augmented as the recipe says (random
    /// crop after zero padding, horizontal flip), with draws from the plan's own generator, so
    /// the same seed gives the same augmented batches in every engine.
    pub fn train_batch(&mut self, data: &Dataset, idx: &[usize]) -> (Vec<f32>, Vec<i64>) {
        let (mut pixels, labels) = batch_data(data, idx);
        if self.random_crop > 0 || self.horizontal_flip {
            let (c, h, w) = (data.channels, data.rows, data.cols);
            // A padded pixel is black: the normalised value of 0.
            let black: Vec<f32> = (0..c).map(|ch| -data.mean[ch] / data.std[ch]).collect();
            let pad = self.random_crop as i64;
            let mut out = vec![0f32; c * h * w];
            for image in pixels.chunks_mut(c * h * w) {
                let dy = self.augment_rng.random_range(-pad..=pad);
                let dx = self.augment_rng.random_range(-pad..=pad);
                let flip = self.horizontal_flip && self.augment_rng.random_bool(0.5);
                for ch in 0..c {
                    for y in 0..h {
                        for x in 0..w {
                            let sx = if flip { w - 1 - x } else { x } as i64 + dx;
                            let sy = y as i64 + dy;
                            out[(ch * h + y) * w + x] =
                                if sx < 0 || sy < 0 || sx >= w as i64 || sy >= h as i64 {
                                    black[ch]
                                } else {
                                    image[(ch * h + sy as usize) * w + sx as usize]
                                };
                        }
                    }
                }
                image.copy_from_slice(&out);
            }
        }
        (pixels, labels)
    }
}

/// Normalised pixels (`[n, channels, rows, cols]` row-major; each channel's mean subtracted and
/// divided by its standard deviation, [`Dataset::mean`] and [`Dataset::std`]) and labels of
/// images `idx`.
pub fn batch_data(data: &Dataset, idx: &[usize]) -> (Vec<f32>, Vec<i64>) {
    let plane = data.rows * data.cols;
    let size = data.channels * plane;
    let mut pixels = Vec::with_capacity(idx.len() * size);
    let mut labels = Vec::with_capacity(idx.len());
    for &i in idx {
        let image = &data.pixels[i * size..(i + 1) * size];
        for (ch, values) in image.chunks(plane).enumerate() {
            let (mean, std) = (data.mean[ch], data.std[ch]);
            pixels.extend(values.iter().map(|&p| (p as f32 / 255.0 - mean) / std));
        }
        labels.push(data.labels[i] as i64);
    }
    (pixels, labels)
}

#[cfg(test)]
mod range_tests {
    use super::*;

    #[test]
    fn every_train_setting_has_a_range() {
        assert!(TrainConfig::default().validate().is_ok());
        type Set = fn(&mut TrainConfig);
        let cases: [(&str, Set); 10] = [
            ("epochs", |c| c.epochs = usize::MAX),
            ("train_subset", |c| c.train_subset = usize::MAX),
            ("batch_size", |c| c.batch_size = MAX_IMAGES + 1),
            ("valid_size", |c| c.valid_size = usize::MAX),
            ("threads", |c| c.threads = 1_000_000),
            ("width", |c| c.width = 1e300),
            ("learning_rate", |c| c.learning_rate = 1e308),
            ("momentum", |c| c.momentum = 1.0),
            ("momentum", |c| c.momentum = f64::INFINITY),
            ("weight_decay", |c| c.weight_decay = 2.0),
        ];
        for (name, set) in cases {
            let mut config = TrainConfig::default();
            set(&mut config);
            let err = config.validate().expect_err(name);
            assert!(err.contains(name), "{err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }
}

#[cfg(test)]
mod position_tests {
    use super::*;

    /// A plan continued from a saved position draws the batches of one never stopped.
    #[test]
    fn a_plan_seeked_to_a_position_continues_exactly() {
        let config = TrainConfig {
            train_subset: 50,
            batch_size: 8,
            ..TrainConfig::default()
        };
        let mut straight = Plan::new(100, &config, 7);
        straight.epoch();
        let saved = straight.position();
        let next = straight.epoch();

        let mut resumed = Plan::new(100, &config, 7);
        resumed.seek(&saved).unwrap();
        assert_eq!(resumed.epoch(), next);

        let other = Plan::new(100, &config, 8).position();
        let err = Plan::new(100, &config, 7).seek(&other).unwrap_err();
        assert!(err.contains("other training images"), "{err}");
    }

    /// With augmentation, a resumed plan crops and flips its batches as one never stopped:
    /// the position carries the augmentation generator too.
    #[test]
    fn a_seeked_plan_augments_as_one_never_stopped() {
        let (rows, cols, n) = (6usize, 6usize, 40usize);
        let data = Dataset {
            pixels: (0..n * rows * cols).map(|i| (i * 37 % 251) as u8).collect(),
            labels: (0..n).map(|i| (i % 4) as u8).collect(),
            rows,
            cols,
            channels: 1,
            mean: vec![0.5],
            std: vec![0.25],
        };
        let config = TrainConfig {
            train_subset: 30,
            batch_size: 8,
            random_crop: 2,
            horizontal_flip: true,
            ..TrainConfig::default()
        };
        let mut straight = Plan::new(n, &config, 3);
        for batch in straight.epoch() {
            straight.train_batch(&data, &batch);
        }
        let saved = straight.position();
        assert_ne!(
            saved.augment_word, "0",
            "the first epoch drew augmentations"
        );
        let next: Vec<_> = straight
            .epoch()
            .iter()
            .map(|b| straight.train_batch(&data, b))
            .collect();

        let mut resumed = Plan::new(n, &config, 3);
        resumed.seek(&saved).unwrap();
        let again: Vec<_> = resumed
            .epoch()
            .iter()
            .map(|b| resumed.train_batch(&data, b))
            .collect();
        assert_eq!(again, next);
    }

    /// A position saved before augmentation existed has no augmentation word: it reads as 0.
    #[test]
    fn a_position_without_an_augmentation_word_reads_as_zero() {
        let position: PlanPosition =
            serde_json::from_str(r#"{"train":[1,0],"shuffle_word":"12"}"#).unwrap();
        assert_eq!(position.augment_word, "0");
    }
}

//! The built-in trainer: turns a network description into a burn model on the pure-Rust Flex
//! CPU backend, trains it on Fashion-MNIST (a stratified subset ships in the repository) or the
//! user's images (an image folder, CIFAR or IDX files: [`load`]) and
//! reports validation accuracy (the reward, from images held out of the training set) and test
//! accuracy (reported only, never selected on).
#![warn(missing_docs)]

mod evaluator;
mod model;
mod run;
mod train;

pub use evaluator::{initial_weights, proxy_network, train_network, TrainEvaluator};
pub use layernas_proxy::{
    adapt, load, scale_depth, synthetic, CifarLabel, Color, DataError, DataFormat, DataSpec,
    Dataset, Engine, FashionMnist, ImageData, LoadOptions, LoadReport, OptimizerKind, Plan,
    Schedule, TrainConfig, TrainResult, Weight, WeightError, Weights,
};
pub use model::{build, load_model, predict, LoadError, Net};
pub use run::{
    load_trained, train_into, EpochMetrics, InputSpec, RunError, RunEvent, RunReport, RunSpec,
    TrainedModel, INPUT_FILE, NETWORK_FILE, STATE_FILE, WEIGHTS_FILE,
};
pub use train::{train, EpochLoss, Trainer, TrainerState};

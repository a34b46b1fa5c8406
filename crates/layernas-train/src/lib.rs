//! The built-in trainer: turns a network description into a burn model on the pure-Rust Flex
//! CPU backend, trains it on Fashion-MNIST (a stratified subset ships in the repository) and
//! reports validation accuracy (the reward, from images held out of the training set) and test
//! accuracy (reported only, never selected on).
#![warn(missing_docs)]

mod evaluator;
mod model;
mod profile;
mod train;

pub use evaluator::{initial_weights, proxy_network, train_network, TrainEvaluator};
pub use layernas_proxy::{
    adapt, scale_depth, DataError, Dataset, Engine, FashionMnist, OptimizerKind, Plan, Schedule,
    TrainConfig, TrainResult, Weight, WeightError, Weights,
};
pub use model::{build, load, LoadError, Net};
pub use profile::{network_latency, profile};
pub use train::train;

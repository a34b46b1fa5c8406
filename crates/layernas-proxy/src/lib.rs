//! The proxy-training recipe of layernas, shared by its training engines (the built-in burn
//! trainer in `layernas-train`, the libtorch trainer in `torch/`): the Fashion-MNIST data (a
//! stratified subset is embedded), the knobs ([`TrainConfig`]), the validation split, batches
//! and learning-rate schedule ([`Plan`]), and the width/depth proxies of a network.
#![warn(missing_docs)]

mod data;
mod network;
mod recipe;

pub use data::{DataError, Dataset, FashionMnist};
pub use network::{adapt, scale_depth};
pub use recipe::{
    batch_data, parse_device, Engine, OptimizerKind, Plan, Schedule, TrainConfig, TrainResult,
    MAX_EPOCHS, MAX_IMAGES, MAX_THREADS,
};

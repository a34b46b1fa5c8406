//! The proxy-training recipe of layernas, shared by its training engines (the built-in burn
//! trainer in `layernas-train`, the libtorch trainer in `torch/`): the data (a stratified
//! Fashion-MNIST subset is embedded; the user's image folders, CIFAR and IDX files are decoded in
//! parallel and cached, [`load`]), the knobs ([`TrainConfig`]), the validation split, batches
//! and learning-rate schedule ([`Plan`]), the width/depth proxies of a network, the one lowering of a network into primitive blocks
//! that every engine builds ([`lower`]), its named weights ([`Weights`], `model.safetensors`), and the engine conformance suite ([`conformance`]).
#![warn(missing_docs)]

pub mod conformance;
mod data;
mod lower;
mod network;
mod recipe;
pub mod synthetic;
mod weights;

pub use data::{
    default_cache_dir, load, CifarLabel, Color, DataError, DataFormat, DataSpec, Dataset,
    FashionMnist, ImageData, LoadOptions, LoadReport, CACHE_ENV, DEFAULT_IMAGE_SIZE, MAX_CLASSES,
    MAX_IMAGE_SIZE,
};
pub use lower::{lower, proxy, Block, ConvSpec, Lowered, Shortcut, SqueezeExcite};
pub use network::{adapt, scale_depth};
pub use recipe::{
    batch_data, parse_device, Engine, OptimizerKind, Plan, PlanPosition, Schedule, TrainConfig,
    TrainResult, MAX_CROP_PADDING, MAX_EPOCHS, MAX_IMAGES, MAX_RECALIBRATION_BATCHES, MAX_THREADS,
};
pub use weights::{
    bn_names, conv_names, linear_names, BnNames, ConvNames, ParamSpec, Weight, WeightError,
    Weights, BN_EPSILON,
};

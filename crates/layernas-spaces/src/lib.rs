//! Search spaces of layernas.
//!
//! - [`Nb201Space`] (`nb201`): the NAS-Bench-201 / NATS-Bench topology space, 6 edges x 5 ops.
//!
//! ```
//! use layernas_core::SearchSpace;
//! use layernas_spaces::Nb201Space;
//! let space = Nb201Space::new();
//! let resnet = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|";
//! let arch = space.parse(resnet).unwrap();
//! assert_eq!(space.format(&arch), resnet);
//! assert_eq!(space.num_models(), 15_625);
//! ```
#![warn(missing_docs)]

mod cost;
mod latency;
mod mobilenet;
mod nats;
mod nb201;
pub mod network;
pub mod reference;
mod template;
mod user;

pub use cost::{Metric, NetworkCost};
pub use latency::{distinct_layers, layer_key, spearman, LatencyError, LatencyTable, TableLatency};
pub use mobilenet::{mobilenet_v2_space, mobilenet_v3_space};
pub use nats::{nats_sss_space, NATS_CHANNELS};
pub use nb201::{Nb201Space, NB201_OPS};
pub use template::{scaled, ArchFormat, Block, Choice, TemplateBlock, TemplateSpace};
pub use user::{space_from_toml, MAX_CHANNELS, MAX_EXPAND, MAX_KERNEL, MAX_RESOLUTION};

//! Resolving `--space` to a search space.

use crate::study::InputError;
use layernas_core::SearchSpace;
use layernas_spaces::{
    mobilenet_v2_space, mobilenet_v3_space, nats_sss_space, space_from_toml, Nb201Space,
    TemplateSpace,
};
use layernas_tables::Dataset;
use std::sync::Arc;

/// Built-in space names.
pub const SPACES: &[&str] = &[
    "nb201",
    "mobilenetv2",
    "mobilenetv3-large",
    "mobilenetv3-small",
    "nats-sss",
];

/// A resolved space.
pub enum Space {
    /// The NAS-Bench-201 cell space (costs and rewards from the table).
    Nb201(Arc<Nb201Space>),
    /// A network template space (costs computed from the network).
    Template(Arc<TemplateSpace>),
}

impl Space {
    /// As a trait object.
    pub fn dyn_space(&self) -> Arc<dyn SearchSpace> {
        match self {
            Space::Nb201(s) => s.clone(),
            Space::Template(s) => s.clone(),
        }
    }
}

/// `nb201`, a built-in network space, or a path to a `.toml` space file. `nats-sss` takes its
/// input size and classes from `dataset`.
pub fn resolve(name: &str, dataset: Dataset) -> Result<Space, InputError> {
    Ok(match name {
        "nb201" => Space::Nb201(Arc::new(Nb201Space::new())),
        "mobilenetv2" => Space::Template(Arc::new(mobilenet_v2_space())),
        "mobilenetv3-large" => Space::Template(Arc::new(mobilenet_v3_space(true))),
        "mobilenetv3-small" => Space::Template(Arc::new(mobilenet_v3_space(false))),
        "nats-sss" => {
            let (resolution, classes) = match dataset {
                Dataset::Cifar10 => (32, 10),
                Dataset::Cifar100 => (32, 100),
                Dataset::Imagenet16 => (16, 120),
            };
            Space::Template(Arc::new(nats_sss_space(resolution, classes)))
        }
        path if path.ends_with(".toml") => {
            let text = crate::study::read_text_file(std::path::Path::new(path), "space file")?;
            Space::Template(Arc::new(
                space_from_toml(&text, path).map_err(|e| InputError(e.to_string()))?,
            ))
        }
        other => {
            return Err(InputError(format!(
                "unknown space {other:?} (allowed: {}, or a .toml space file)",
                SPACES.join(", ")
            )))
        }
    })
}

//! The weights of a lowered network, named after its blocks and parts, framework-neutral: what
//! an engine saves (`model.safetensors`) and an exporter reads.
//!
//! Names are those of the libtorch engine's `VarStore` (`torch/`), so a file either engine
//! writes holds the same tensors: `<block>.<part>.` then, for a convolution with optional batch
//! norm, `conv.weight`, `conv.bias`, `bn.weight`, `bn.bias`, `bn.running_mean`,
//! `bn.running_var` (a plain [`Block::Conv`] has no part: `3.conv.weight`, `3.bn.weight`);
//! squeeze-and-excite's convolutions and the pooled shortcut's 1x1 convolution are bare
//! (`5.se_reduce.weight`, `5.se_reduce.bias`, `7.short.weight`); a batch norm block is
//! `<block>.bn.*` and a fully connected layer `<block>.linear.weight` (`[out, in]`, as PyTorch
//! stores it) and `<block>.linear.bias`. Convolution weights are `[out, in / groups, k, k]`.
//! Every tensor is `f32`, row-major. Batch norm divides by `sqrt(running_var + BN_EPSILON)`.
//!
//! ```
//! use layernas_proxy::{lower, conformance, Weights};
//!
//! let lowered = lower(&conformance::networks()[0]).unwrap();
//! let params = lowered.parameters();
//! assert_eq!(params[0].name, "0.conv.weight");
//! assert_eq!(params[0].shape, vec![8, 1, 3, 3]);
//! // An empty set of weights names the first tensor it lacks.
//! let err = Weights::default().check(&lowered).unwrap_err();
//! assert_eq!(err.to_string(), "weight 0.conv.weight is missing");
//! ```

use crate::lower::{Block, ConvSpec, Lowered, Shortcut};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Batch norm's epsilon in every engine and exporter (PyTorch's and burn's default).
pub const BN_EPSILON: f64 = 1e-5;

/// A tensor of `f32` values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Weight {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Weight {
    /// A tensor of `shape` holding `data`; fails if the lengths disagree.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self, WeightError> {
        if shape.iter().product::<usize>() != data.len() {
            return Err(WeightError::Length {
                shape,
                len: data.len(),
            });
        }
        Ok(Weight { shape, data })
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The values, row-major.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The values, mutable (the shape stays).
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }
}

/// A parameter a lowered network needs: its name and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSpec {
    /// Name (see the module documentation).
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
}

/// Where a batch norm's tensors live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BnNames {
    /// Scale (gamma), `[channels]`.
    pub weight: String,
    /// Shift (beta), `[channels]`.
    pub bias: String,
    /// Running mean, `[channels]`.
    pub running_mean: String,
    /// Running variance, `[channels]`.
    pub running_var: String,
}

impl BnNames {
    /// The batch norm at `prefix` (`<prefix>.weight`, ...).
    pub fn at(prefix: &str) -> Self {
        BnNames {
            weight: format!("{prefix}.weight"),
            bias: format!("{prefix}.bias"),
            running_mean: format!("{prefix}.running_mean"),
            running_var: format!("{prefix}.running_var"),
        }
    }

    fn params(&self, channels: usize) -> Vec<ParamSpec> {
        [
            &self.weight,
            &self.bias,
            &self.running_mean,
            &self.running_var,
        ]
        .into_iter()
        .map(|name| ParamSpec {
            name: name.clone(),
            shape: vec![channels],
        })
        .collect()
    }
}

/// Where a convolution's tensors live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvNames {
    /// The kernel, `[out, in / groups, k, k]`.
    pub weight: String,
    /// The bias, `[out]`, when the convolution has one.
    pub bias: Option<String>,
    /// Its batch norm, when it has one.
    pub bn: Option<BnNames>,
}

impl ConvNames {
    fn of(prefix: &str, spec: &ConvSpec, bare: bool) -> Self {
        let conv = if bare {
            prefix.to_string()
        } else {
            format!("{prefix}.conv")
        };
        ConvNames {
            weight: format!("{conv}.weight"),
            bias: spec.bias.then(|| format!("{conv}.bias")),
            bn: spec.bn.then(|| BnNames::at(&format!("{prefix}.bn"))),
        }
    }

    fn params(&self, spec: &ConvSpec) -> Vec<ParamSpec> {
        let mut v = vec![ParamSpec {
            name: self.weight.clone(),
            shape: vec![spec.cout, spec.cin / spec.groups, spec.kernel, spec.kernel],
        }];
        if let Some(b) = &self.bias {
            v.push(ParamSpec {
                name: b.clone(),
                shape: vec![spec.cout],
            });
        }
        if let Some(bn) = &self.bn {
            v.extend(bn.params(spec.cout));
        }
        v
    }
}

/// The convolutions of block `index`, in [`Block::convs`] order: part name, spec and where
/// its tensors live.
pub fn conv_names(index: usize, block: &Block) -> Vec<(&'static str, ConvSpec, ConvNames)> {
    block
        .convs()
        .into_iter()
        .map(|(part, spec)| {
            let names = match (block, part) {
                (Block::Conv(_), _) => ConvNames::of(&index.to_string(), &spec, false),
                (_, "se_reduce" | "se_expand")
                | (
                    Block::ResBlock {
                        shortcut: Shortcut::PoolConv(_),
                        ..
                    },
                    "short",
                ) => ConvNames::of(&format!("{index}.{part}"), &spec, true),
                _ => ConvNames::of(&format!("{index}.{part}"), &spec, false),
            };
            (part, spec, names)
        })
        .collect()
}

/// The batch norm of a [`Block::BnAct`] at `index`.
pub fn bn_names(index: usize) -> BnNames {
    BnNames::at(&format!("{index}.bn"))
}

/// The weight (`[out, in]`) and bias of a [`Block::Linear`] at `index`.
pub fn linear_names(index: usize) -> (String, String) {
    (
        format!("{index}.linear.weight"),
        format!("{index}.linear.bias"),
    )
}

impl Lowered {
    /// Every tensor the network's weights hold (trainable parameters and batch norm's running
    /// statistics), in block order.
    pub fn parameters(&self) -> Vec<ParamSpec> {
        let mut v = Vec::new();
        for (i, block) in self.blocks.iter().enumerate() {
            for (_, spec, names) in conv_names(i, block) {
                v.extend(names.params(&spec));
            }
            match block {
                Block::BnAct { channels, .. } => v.extend(bn_names(i).params(*channels)),
                Block::Linear {
                    features,
                    out,
                    bias,
                    ..
                } => {
                    let (w, b) = linear_names(i);
                    v.push(ParamSpec {
                        name: w,
                        shape: vec![*out, *features],
                    });
                    if *bias {
                        v.push(ParamSpec {
                            name: b,
                            shape: vec![*out],
                        });
                    }
                }
                _ => {}
            }
        }
        v
    }
}

/// Why weights cannot be used or read.
#[derive(Debug, thiserror::Error)]
pub enum WeightError {
    /// Data and shape disagree.
    #[error("{len} values do not fill a tensor of shape {shape:?}")]
    Length {
        /// The shape.
        shape: Vec<usize>,
        /// The number of values.
        len: usize,
    },
    /// A tensor the network needs is absent.
    #[error("weight {name} is missing")]
    Missing {
        /// Its name.
        name: String,
    },
    /// A tensor has the wrong shape.
    #[error("weight {name} has shape {found:?}, the network needs {expected:?}")]
    Shape {
        /// Its name.
        name: String,
        /// Its shape.
        found: Vec<usize>,
        /// The network's.
        expected: Vec<usize>,
    },
    /// A tensor the network has no use for (weights of another network).
    #[error("weight {name} is not a parameter of this network")]
    Unexpected {
        /// Its name.
        name: String,
    },
    /// A NaN or an infinity.
    #[error("weight {name} holds a non-finite value")]
    NonFinite {
        /// Its name.
        name: String,
    },
    /// A running variance below zero.
    #[error("weight {name} holds a negative variance")]
    NegativeVariance {
        /// Its name.
        name: String,
    },
    /// Not a safetensors file of `f32` tensors.
    #[error("{path}: not a weights file: {reason}")]
    Format {
        /// The file (`<memory>` for bytes).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Named tensors (see the module documentation for the names).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Weights {
    tensors: BTreeMap<String, Weight>,
}

impl Weights {
    /// Adds (or replaces) the tensor `name`.
    pub fn insert(&mut self, name: impl Into<String>, weight: Weight) {
        self.tensors.insert(name.into(), weight);
    }

    /// The tensor `name`, if present.
    pub fn get(&self, name: &str) -> Option<&Weight> {
        self.tensors.get(name)
    }

    /// The tensor `name`, mutable.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Weight> {
        self.tensors.get_mut(name)
    }

    /// The values of `name`, which must have `shape`.
    pub fn values(&self, name: &str, shape: &[usize]) -> Result<&[f32], WeightError> {
        let w = self.get(name).ok_or_else(|| WeightError::Missing {
            name: name.to_string(),
        })?;
        if w.shape != shape {
            return Err(WeightError::Shape {
                name: name.to_string(),
                found: w.shape.clone(),
                expected: shape.to_vec(),
            });
        }
        Ok(&w.data)
    }

    /// Every tensor, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Weight)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of tensors.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// No tensors.
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Checks that these are exactly the weights of `lowered`: every tensor present with its
    /// shape, none extra, every value finite, no negative running variance.
    pub fn check(&self, lowered: &Lowered) -> Result<(), WeightError> {
        let params = lowered.parameters();
        for p in &params {
            let values = self.values(&p.name, &p.shape)?;
            if values.iter().any(|v| !v.is_finite()) {
                return Err(WeightError::NonFinite {
                    name: p.name.clone(),
                });
            }
            if p.name.ends_with(".running_var") && values.iter().any(|&v| v < 0.0) {
                return Err(WeightError::NegativeVariance {
                    name: p.name.clone(),
                });
            }
        }
        if self.len() != params.len() {
            let known: std::collections::HashSet<&str> =
                params.iter().map(|p| p.name.as_str()).collect();
            if let Some((name, _)) = self.iter().find(|(n, _)| !known.contains(n)) {
                return Err(WeightError::Unexpected {
                    name: name.to_string(),
                });
            }
        }
        Ok(())
    }

    /// The safetensors encoding (`f32` tensors, metadata `format: layernas`).
    pub fn to_safetensors(&self) -> Vec<u8> {
        let bytes: Vec<Vec<u8>> = self
            .tensors
            .values()
            .map(|w| w.data.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let views = self.tensors.iter().zip(&bytes).map(|((name, w), b)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, w.shape.clone(), b)
                    .expect("a weight's shape always matches its data");
            (name.as_str(), view)
        });
        let metadata = HashMap::from([("format".to_string(), "layernas".to_string())]);
        safetensors::serialize(views, Some(metadata))
            .expect("f32 tensors with matching shapes always serialize")
    }

    /// Decodes a safetensors file of `f32` tensors (`path` names it in errors).
    pub fn from_safetensors(bytes: &[u8], path: &Path) -> Result<Self, WeightError> {
        let format = |reason: String| WeightError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let file =
            safetensors::SafeTensors::deserialize(bytes).map_err(|e| format(e.to_string()))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in file.tensors() {
            if view.dtype() != safetensors::Dtype::F32 {
                return Err(format(format!(
                    "tensor {name} is {:?}, only F32 tensors are read",
                    view.dtype()
                )));
            }
            let data = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            let weight = Weight::new(view.shape().to_vec(), data)
                .map_err(|e| format(format!("tensor {name}: {e}")))?;
            tensors.insert(name, weight);
        }
        Ok(Weights { tensors })
    }

    /// Writes `path` (safetensors).
    pub fn save(&self, path: &Path) -> Result<(), WeightError> {
        std::fs::write(path, self.to_safetensors()).map_err(|source| WeightError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads `path` (safetensors).
    pub fn load(path: &Path) -> Result<Self, WeightError> {
        let bytes = std::fs::read(path).map_err(|source| WeightError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_safetensors(&bytes, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{conformance, lower};

    fn filled(lowered: &Lowered) -> Weights {
        let mut w = Weights::default();
        for (i, p) in lowered.parameters().into_iter().enumerate() {
            let n = p.shape.iter().product::<usize>();
            let data = (0..n).map(|j| (i * 7 + j) as f32 * 0.01).collect();
            w.insert(p.name, Weight::new(p.shape, data).unwrap());
        }
        w
    }

    #[test]
    fn parameters_count_the_trainable_ones_and_the_running_statistics() {
        for net in conformance::networks() {
            let lowered = lower(&net).unwrap();
            let params = lowered.parameters();
            let total: u64 = params
                .iter()
                .filter(|p| !p.name.contains(".running_"))
                .map(|p| p.shape.iter().product::<usize>() as u64)
                .sum();
            assert_eq!(total, lowered.params(), "{net:?}");
            let names: std::collections::HashSet<_> = params.iter().map(|p| &p.name).collect();
            assert_eq!(names.len(), params.len(), "names are unique");
        }
    }

    #[test]
    fn names_follow_the_torch_engines_var_store() {
        let lowered = lower(&conformance::networks()[1]).unwrap();
        let names: Vec<String> = lowered.parameters().into_iter().map(|p| p.name).collect();
        for expected in [
            "0.conv.weight",
            "0.bn.running_var",
            "1.dw.conv.weight",
            "1.se_reduce.weight",
            "1.se_reduce.bias",
            "2.expand.bn.weight",
            "2.project.conv.weight",
            "6.linear.weight",
            "6.linear.bias",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
        }
        let res = lower(&conformance::networks()[2]).unwrap();
        let names: Vec<String> = res.parameters().into_iter().map(|p| p.name).collect();
        // A stride-2 ResNet block's pooled shortcut is a bare 1x1 convolution; a channel
        // change at stride 1 is a ReLU-conv-BN.
        assert!(names.iter().any(|n| n == "2.short.weight"), "{names:?}");
        assert!(
            names.iter().any(|n| n == "4.short.conv.weight"),
            "{names:?}"
        );
        assert!(
            names.iter().any(|n| n == "3.e30.bn.running_mean"),
            "{names:?}"
        );
    }

    #[test]
    fn safetensors_round_trip() {
        let lowered = lower(&conformance::networks()[2]).unwrap();
        let w = filled(&lowered);
        w.check(&lowered).unwrap();
        let dir = std::env::temp_dir().join(format!("layernas-weights-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.safetensors");
        w.save(&path).unwrap();
        let back = Weights::load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(back, w);
    }

    #[test]
    fn check_names_the_wrong_tensor() {
        let lowered = lower(&conformance::networks()[0]).unwrap();
        let good = filled(&lowered);
        let mut w = good.clone();
        w.insert(
            "0.conv.weight",
            Weight::new(vec![8, 1, 1, 1], vec![0.0; 8]).unwrap(),
        );
        assert_eq!(
            w.check(&lowered).unwrap_err().to_string(),
            "weight 0.conv.weight has shape [8, 1, 1, 1], the network needs [8, 1, 3, 3]"
        );
        let mut w = good.clone();
        w.insert("9.conv.weight", Weight::new(vec![1], vec![0.0]).unwrap());
        assert_eq!(
            w.check(&lowered).unwrap_err().to_string(),
            "weight 9.conv.weight is not a parameter of this network"
        );
        let mut w = good.clone();
        w.get_mut("0.bn.running_var").unwrap().data_mut()[3] = -1.0;
        assert_eq!(
            w.check(&lowered).unwrap_err().to_string(),
            "weight 0.bn.running_var holds a negative variance"
        );
        let mut w = good;
        w.get_mut("5.linear.bias").unwrap().data_mut()[0] = f32::NAN;
        assert_eq!(
            w.check(&lowered).unwrap_err().to_string(),
            "weight 5.linear.bias holds a non-finite value"
        );
    }

    #[test]
    fn a_file_that_is_not_safetensors_is_named() {
        let err = Weights::from_safetensors(b"not a file", Path::new("x/model.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("x/model.safetensors: not a weights file: "),
            "{err}"
        );
    }
}

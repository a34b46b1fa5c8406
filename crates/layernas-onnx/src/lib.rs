//! ONNX export of a layernas network: a network description and its named weights
//! ([`layernas_proxy::Weights`], as an engine saves them in `model.safetensors`) become an ONNX
//! model (`model.onnx`) that any ONNX runtime can run, built from the one lowering
//! ([`layernas_proxy::lower`]) that every training engine builds too.
//!
//! The model:
//! - opset [`OPSET`] (13), IR version 7; one input [`INPUT`] (`float[batch, channels, height,
//!   width]`, the normalised pixels the trainer feeds) and one output [`OUTPUT`]
//!   (`float[batch, classes]`, logits), the batch dimension dynamic (`batch`);
//! - **batch norm after a convolution is folded into it** (weights scaled by
//!   `gamma / sqrt(running_var + eps)`, in `f64`, and a bias added), as inference graphs are
//!   deployed; a batch norm without a convolution (the `bn_act` op) is a `BatchNormalization`;
//! - ops: `Conv` (groups for depthwise and grouped convolutions), `Relu`, `Clip` (ReLU6),
//!   `HardSigmoid` (squeeze-and-excite's gate; hard-swish is `x * HardSigmoid(x)`), `Mul`,
//!   `Add` (residuals, NATS cells, ResNet shortcuts), `MaxPool`, `AveragePool`,
//!   `GlobalAveragePool`, `BatchNormalization`, `Flatten`, `Gemm` and `Unsqueeze` (a fully
//!   connected layer's output is a 1x1 map, as in the trainer);
//! - metadata `layernas.network`: the network description (JSON).
//!
//! ```
//! use layernas_onnx::{export, INPUT};
//! use layernas_proxy::{conformance, lower, Weight, Weights};
//!
//! let network = conformance::networks()[1].clone();
//! let mut weights = Weights::default();
//! for p in lower(&network).unwrap().parameters() {
//!     let n = p.shape.iter().product();
//!     let value = if p.name.ends_with("running_var") { 1.0 } else { 0.01 };
//!     weights.insert(p.name, Weight::new(p.shape, vec![value; n]).unwrap());
//! }
//! let model = export(&network, &weights).unwrap();
//! assert_eq!(model.proto().graph.as_ref().unwrap().input[0].name.as_deref(), Some(INPUT));
//! let bytes = model.to_bytes();
//! assert!(bytes.len() > 1000);
//! ```
#![warn(missing_docs)]

/// The ONNX protobuf messages (a prost build of the ONNX schema, `proto/onnx.proto`).
#[allow(missing_docs, clippy::all)]
pub mod proto;

use layernas_proxy::{
    bn_names, conv_names, linear_names, lower, Block, ConvNames, ConvSpec, Shortcut, WeightError,
    Weights, BN_EPSILON,
};
use layernas_spaces::network::{Act, Network, NetworkError, PoolKind};
use prost::Message;
use proto::attribute_proto::AttributeType;
use proto::tensor_proto::DataType;
use proto::tensor_shape_proto::{dimension, Dimension};
use proto::{
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// The ONNX opset the model imports.
pub const OPSET: i64 = 13;
/// The ONNX IR version of the model (the one of opset 13).
pub const IR_VERSION: i64 = 7;
/// The input's name.
pub const INPUT: &str = "input";
/// The output's name.
pub const OUTPUT: &str = "logits";
/// The output's name in a graph of the layers only ([`export_features`]).
pub const FEATURES: &str = "features";
/// The name of the dynamic batch dimension.
pub const BATCH: &str = "batch";

/// Why a model cannot be exported.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The network description is invalid.
    #[error("the network is invalid: {0}")]
    Network(#[from] NetworkError),
    /// The weights are not those of the network.
    #[error("the weights do not fit the network: {0}")]
    Weights(#[from] WeightError),
    /// Writing the file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// An exported model.
#[derive(Debug, Clone)]
pub struct OnnxModel {
    proto: ModelProto,
}

impl OnnxModel {
    /// The ONNX message.
    pub fn proto(&self) -> &ModelProto {
        &self.proto
    }

    /// The serialized model (the bytes of a `.onnx` file).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.proto.encode_to_vec()
    }

    /// Adds a metadata entry (`metadata_props`) to the model, after the ones it has.
    pub fn add_metadata(&mut self, key: &str, value: &str) {
        self.proto.metadata_props.push(StringStringEntryProto {
            key: Some(key.into()),
            value: Some(value.into()),
        });
    }

    /// Writes the model to `path`.
    pub fn write(&self, path: &Path) -> Result<(), ExportError> {
        std::fs::write(path, self.to_bytes()).map_err(|source| ExportError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// How many nodes of each op type the graph has.
    pub fn op_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for node in self.graph().node.iter() {
            *counts
                .entry(node.op_type.clone().unwrap_or_default())
                .or_insert(0) += 1;
        }
        counts
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.graph().node.len()
    }

    /// Number of values in the initializers (weights after folding).
    pub fn initializer_values(&self) -> u64 {
        self.graph()
            .initializer
            .iter()
            .map(|t| t.dims.iter().product::<i64>().max(0) as u64)
            .sum()
    }

    fn graph(&self) -> &GraphProto {
        self.proto
            .graph
            .as_ref()
            .expect("an exported model always has a graph")
    }
}

/// Exports `network` with `weights` (checked against the network first: every tensor present
/// with its shape, none extra, all finite).
pub fn export(network: &Network, weights: &Weights) -> Result<OnnxModel, ExportError> {
    export_graph(network, weights, Output::Logits)
}

/// Exports the layers of `network` only: the graph's output [`FEATURES`] is the last layer's
/// map (`float[batch, channels, height, width]`), without the head's pooling and flattening, as
/// the trainer's `forward_map` leaves it. `layernas profile --engine tract` times one layer
/// configuration as such a graph.
pub fn export_features(network: &Network, weights: &Weights) -> Result<OnnxModel, ExportError> {
    export_graph(network, weights, Output::Features)
}

/// What an exported graph ends with.
#[derive(Clone, Copy, PartialEq)]
enum Output {
    /// The logits (the head's pooling and flattening included).
    Logits,
    /// The last layer's map.
    Features,
}

fn export_graph(
    network: &Network,
    weights: &Weights,
    output: Output,
) -> Result<OnnxModel, ExportError> {
    let lowered = lower(network)?;
    weights.check(&lowered)?;
    let mut g = Builder::new(weights);
    let mut x = INPUT.to_string();
    for (i, block) in lowered.blocks.iter().enumerate() {
        x = match block {
            Block::Conv(spec) => {
                let (_, _, names) = &conv_names(i, block)[0];
                g.conv(&x, spec, names, &i.to_string())?
            }
            Block::Mbconv { se, residual, .. } => {
                let convs = conv_names(i, block);
                let part = |name: &str| conv_part(&convs, name);
                let mut y = x.clone();
                if let Some((s, n)) = part("expand") {
                    y = g.conv(&y, s, n, &format!("{i}.expand"))?;
                }
                let (s, n) = part("dw").expect("an MBConv has a depthwise convolution");
                y = g.conv(&y, s, n, &format!("{i}.dw"))?;
                if se.is_some() {
                    let (rs, rn) = part("se_reduce").expect("SE has a reducing convolution");
                    let (es, en) = part("se_expand").expect("SE has an expanding convolution");
                    let pooled =
                        g.node("GlobalAveragePool", &[&y], vec![], &format!("{i}.se_pool"));
                    let r = g.conv(&pooled, rs, rn, &format!("{i}.se_reduce"))?;
                    let r = g.node("Relu", &[&r], vec![], &format!("{i}.se_relu"));
                    let e = g.conv(&r, es, en, &format!("{i}.se_expand"))?;
                    let gate = g.hard_sigmoid(&e, &format!("{i}.se_gate"));
                    y = g.node("Mul", &[&y, &gate], vec![], &format!("{i}.se_scale"));
                }
                let (s, n) = part("project").expect("an MBConv has a projection");
                y = g.conv(&y, s, n, &format!("{i}.project"))?;
                if *residual {
                    y = g.node("Add", &[&x, &y], vec![], &format!("{i}.residual"));
                }
                y
            }
            Block::Pool {
                kind,
                kernel,
                stride,
            } => {
                let op = match kind {
                    PoolKind::Avg => "AveragePool",
                    PoolKind::Max => "MaxPool",
                };
                g.node(
                    op,
                    &[&x],
                    vec![
                        ints("kernel_shape", &[*kernel, *kernel]),
                        ints("strides", &[*stride, *stride]),
                    ],
                    &format!("{i}.pool"),
                )
            }
            Block::GlobalPool => g.node("GlobalAveragePool", &[&x], vec![], &format!("{i}.pool")),
            Block::BnAct { channels, act } => {
                let names = bn_names(i);
                let shape = [*channels];
                let inputs: Vec<String> = [
                    &names.weight,
                    &names.bias,
                    &names.running_mean,
                    &names.running_var,
                ]
                .into_iter()
                .map(|n| g.weight(n, &shape))
                .collect::<Result<_, _>>()?;
                let y = g.node(
                    "BatchNormalization",
                    &[&x, &inputs[0], &inputs[1], &inputs[2], &inputs[3]],
                    vec![float("epsilon", BN_EPSILON as f32)],
                    &format!("{i}.bn"),
                );
                g.activate(&y, *act, &format!("{i}.act"))
            }
            Block::Linear {
                features,
                out,
                bias,
                act,
            } => {
                let (w, b) = linear_names(i);
                let flat = g.node(
                    "Flatten",
                    &[&x],
                    vec![int("axis", 1)],
                    &format!("{i}.flatten"),
                );
                let w = g.weight(&w, &[*out, *features])?;
                let mut inputs = vec![flat.as_str(), w.as_str()];
                let b = if *bias {
                    Some(g.weight(&b, &[*out])?)
                } else {
                    None
                };
                if let Some(b) = &b {
                    inputs.push(b);
                }
                let y = g.node(
                    "Gemm",
                    &inputs,
                    vec![int("transB", 1)],
                    &format!("{i}.linear"),
                );
                // The trainer's fully connected layer leaves a 1x1 map.
                let axes = g.constant_i64("axes_2_3", &[2, 3]);
                let y = g.node("Unsqueeze", &[&y, &axes], vec![], &format!("{i}.unsqueeze"));
                g.activate(&y, *act, &format!("{i}.act"))
            }
            Block::NatsCell { e30, .. } => {
                let convs = conv_names(i, block);
                let edge = |g: &mut Builder, name: &str, input: &str| {
                    let (s, n) = conv_part(&convs, name).expect("a NATS cell has every edge");
                    g.conv(input, s, n, &format!("{i}.{name}"))
                };
                let n1 = edge(&mut g, "e10", &x)?;
                let a = edge(&mut g, "e20", &x)?;
                let b = edge(&mut g, "e21", &n1)?;
                let n2 = g.node("Add", &[&a, &b], vec![], &format!("{i}.node2"));
                let skip = if e30.is_some() {
                    edge(&mut g, "e30", &x)?
                } else {
                    x.clone()
                };
                let c = edge(&mut g, "e31", &n1)?;
                let d = edge(&mut g, "e32", &n2)?;
                let sum = g.node("Add", &[&skip, &c], vec![], &format!("{i}.node3a"));
                g.node("Add", &[&sum, &d], vec![], &format!("{i}.node3"))
            }
            Block::ResBlock { shortcut, .. } => {
                let convs = conv_names(i, block);
                let part = |name: &str| {
                    conv_part(&convs, name).expect("a ResNet block has this convolution")
                };
                let (sa, na) = part("a");
                let (sb, nb) = part("b");
                let main = g.conv(&x, sa, na, &format!("{i}.a"))?;
                let main = g.conv(&main, sb, nb, &format!("{i}.b"))?;
                let short = match shortcut {
                    Shortcut::Identity => x.clone(),
                    Shortcut::PoolConv(_) => {
                        let pooled = g.node(
                            "AveragePool",
                            &[&x],
                            vec![ints("kernel_shape", &[2, 2]), ints("strides", &[2, 2])],
                            &format!("{i}.short_pool"),
                        );
                        let (s, n) = part("short");
                        g.conv(&pooled, s, n, &format!("{i}.short"))?
                    }
                    Shortcut::Conv(_) => {
                        let (s, n) = part("short");
                        g.conv(&x, s, n, &format!("{i}.short"))?
                    }
                };
                g.node("Add", &[&short, &main], vec![], &format!("{i}.residual"))
            }
        };
    }
    let output_info = match output {
        Output::Logits => {
            if lowered.head_pool {
                x = g.node("GlobalAveragePool", &[&x], vec![], "head.pool");
            }
            let flat = g.node("Flatten", &[&x], vec![int("axis", 1)], "head.flatten");
            // The graph's output keeps its public name.
            g.rename_output(&flat, OUTPUT);
            value_info(OUTPUT, &[Dim::Batch, Dim::Fixed(lowered.classes)])
        }
        Output::Features => {
            if x == INPUT {
                // A graph's output cannot be its input: a network without layers is refused
                // by the lowering, so this is unreachable, but an identity keeps it valid.
                x = g.node("Identity", &[&x], vec![], "identity");
            }
            g.rename_output(&x, FEATURES);
            let [c, h, w] = *lowered
                .shapes
                .last()
                .expect("a lowered network has a block");
            value_info(
                FEATURES,
                &[Dim::Batch, Dim::Fixed(c), Dim::Fixed(h), Dim::Fixed(w)],
            )
        }
    };

    let input = network.input;
    let graph = GraphProto {
        name: Some("layernas".into()),
        node: g.nodes,
        initializer: g.initializers,
        input: vec![value_info(
            INPUT,
            &[
                Dim::Batch,
                Dim::Fixed(input.channels as usize),
                Dim::Fixed(input.resolution as usize),
                Dim::Fixed(input.resolution as usize),
            ],
        )],
        output: vec![output_info],
        doc_string: Some(
            match output {
                Output::Logits => "Input: normalised pixels (NCHW) as the layernas trainer feeds them. Output: logits.",
                Output::Features => "Input: normalised pixels (NCHW) as the layernas trainer feeds them. Output: the last layer's map.",
            }
            .into(),
        ),
        ..Default::default()
    };
    let proto = ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("layernas".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        graph: Some(graph),
        metadata_props: vec![StringStringEntryProto {
            key: Some("layernas.network".into()),
            value: Some(
                serde_json::to_string(network).expect("a network description always serializes"),
            ),
        }],
        ..Default::default()
    };
    Ok(OnnxModel { proto })
}

/// The convolution `part` among a block's convolutions ([`conv_names`]), if it has one.
fn conv_part<'a>(
    convs: &'a [(&'static str, ConvSpec, ConvNames)],
    part: &str,
) -> Option<(&'a ConvSpec, &'a ConvNames)> {
    convs
        .iter()
        .find(|(p, _, _)| *p == part)
        .map(|(_, s, n)| (s, n))
}

/// Builds the graph: nodes with unique value names, and initializers.
struct Builder<'w> {
    weights: &'w Weights,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    names: HashSet<String>,
}

impl<'w> Builder<'w> {
    fn new(weights: &'w Weights) -> Self {
        Builder {
            weights,
            nodes: Vec::new(),
            initializers: Vec::new(),
            names: HashSet::from([INPUT.to_string(), OUTPUT.to_string(), FEATURES.to_string()]),
        }
    }

    /// A name not yet taken, `hint` where possible.
    fn unique(&mut self, hint: &str) -> String {
        let mut name = hint.to_string();
        let mut n = 1;
        while self.names.contains(&name) {
            n += 1;
            name = format!("{hint}_{n}");
        }
        self.names.insert(name.clone());
        name
    }

    /// Adds node `op` on `inputs`; its one output (and the node) is named after `hint`.
    fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        attribute: Vec<AttributeProto>,
        hint: &str,
    ) -> String {
        let out = self.unique(hint);
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.clone()],
            name: Some(out.clone()),
            op_type: Some(op.into()),
            attribute,
            ..Default::default()
        });
        out
    }

    fn initializer(&mut self, hint: &str, dims: &[usize], data: Vec<f32>) -> String {
        let name = self.unique(hint);
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(DataType::Float as i32),
            name: Some(name.clone()),
            // Little-endian bytes: the compact encoding the schema recommends.
            raw_data: Some(data.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        });
        name
    }

    /// The constant `tensor` as the initializer `name`, added once (the first one stands).
    fn constant(&mut self, name: &str, tensor: TensorProto) -> String {
        if self.names.insert(name.to_string()) {
            self.initializers.push(TensorProto {
                name: Some(name.into()),
                ..tensor
            });
        }
        name.to_string()
    }

    /// An `int64` constant, added once.
    fn constant_i64(&mut self, name: &str, data: &[i64]) -> String {
        let tensor = TensorProto {
            dims: vec![data.len() as i64],
            data_type: Some(DataType::Int64 as i32),
            int64_data: data.to_vec(),
            ..Default::default()
        };
        self.constant(name, tensor)
    }

    /// A scalar `float` constant, added once.
    fn constant_f32(&mut self, name: &str, value: f32) -> String {
        let tensor = TensorProto {
            dims: vec![],
            data_type: Some(DataType::Float as i32),
            float_data: vec![value],
            ..Default::default()
        };
        self.constant(name, tensor)
    }

    /// The weight `name` (of `shape`) as an initializer of the same name.
    fn weight(&mut self, name: &str, shape: &[usize]) -> Result<String, WeightError> {
        let data = self.weights.values(name, shape)?.to_vec();
        Ok(self.initializer(name, shape, data))
    }

    /// Renames the value `from` (the output of the last node) to `to`.
    fn rename_output(&mut self, from: &str, to: &str) {
        let node = self.nodes.last_mut().expect("the graph has nodes");
        debug_assert_eq!(node.output[0], from);
        node.output[0] = to.to_string();
        node.name = Some(to.to_string());
    }

    fn hard_sigmoid(&mut self, x: &str, hint: &str) -> String {
        self.node(
            "HardSigmoid",
            &[x],
            vec![float("alpha", 1.0 / 6.0), float("beta", 0.5)],
            hint,
        )
    }

    fn activate(&mut self, x: &str, act: Act, hint: &str) -> String {
        match act {
            Act::None => x.to_string(),
            Act::Relu => self.node("Relu", &[x], vec![], hint),
            Act::Relu6 => {
                let lo = self.constant_f32("relu6_min", 0.0);
                let hi = self.constant_f32("relu6_max", 6.0);
                self.node("Clip", &[x, &lo, &hi], vec![], hint)
            }
            Act::Hswish => {
                let gate = self.hard_sigmoid(x, &format!("{hint}_gate"));
                self.node("Mul", &[x, &gate], vec![], hint)
            }
        }
    }

    /// A lowered convolution at `at` (its node names): ReLU first when `pre_relu`, the
    /// convolution with its batch norm folded in, then the activation.
    fn conv(
        &mut self,
        x: &str,
        spec: &ConvSpec,
        names: &ConvNames,
        at: &str,
    ) -> Result<String, WeightError> {
        let x = if spec.pre_relu {
            self.node("Relu", &[x], vec![], &format!("{at}.pre_relu"))
        } else {
            x.to_string()
        };
        let per_out = spec.cin / spec.groups * spec.kernel * spec.kernel;
        let wshape = [spec.cout, spec.cin / spec.groups, spec.kernel, spec.kernel];
        let mut w = self.weights.values(&names.weight, &wshape)?.to_vec();
        let mut b = match &names.bias {
            Some(n) => Some(self.weights.values(n, &[spec.cout])?.to_vec()),
            None => None,
        };
        if let Some(bn) = &names.bn {
            let c = [spec.cout];
            let gamma = self.weights.values(&bn.weight, &c)?;
            let beta = self.weights.values(&bn.bias, &c)?;
            let mean = self.weights.values(&bn.running_mean, &c)?;
            let var = self.weights.values(&bn.running_var, &c)?;
            let mut folded = vec![0f32; spec.cout];
            for o in 0..spec.cout {
                let scale = gamma[o] as f64 / (var[o] as f64 + BN_EPSILON).sqrt();
                for v in &mut w[o * per_out..(o + 1) * per_out] {
                    *v = (*v as f64 * scale) as f32;
                }
                let bias = b.as_ref().map_or(0.0, |b| b[o] as f64);
                folded[o] = ((bias - mean[o] as f64) * scale + beta[o] as f64) as f32;
            }
            b = Some(folded);
        }
        let stem = names.weight.trim_end_matches(".weight");
        let w = self.initializer(&format!("{stem}.weight"), &wshape, w);
        let b = b.map(|b| self.initializer(&format!("{stem}.bias"), &[spec.cout], b));
        let mut inputs = vec![x.as_str(), w.as_str()];
        if let Some(b) = &b {
            inputs.push(b);
        }
        let p = spec.padding();
        let y = self.node(
            "Conv",
            &inputs,
            vec![
                ints("kernel_shape", &[spec.kernel, spec.kernel]),
                ints("strides", &[spec.stride, spec.stride]),
                ints("pads", &[p, p, p, p]),
                int("group", spec.groups as i64),
            ],
            &format!("{at}.conv"),
        );
        Ok(self.activate(&y, spec.act, &format!("{at}.act")))
    }
}

fn ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values.iter().map(|&v| v as i64).collect(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Float as i32),
        f: Some(value),
        ..Default::default()
    }
}

enum Dim {
    Batch,
    Fixed(usize),
}

fn value_info(name: &str, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Batch => dimension::Value::DimParam(BATCH.into()),
                Dim::Fixed(n) => dimension::Value::DimValue(*n as i64),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

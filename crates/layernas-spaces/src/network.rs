//! The network an architecture decodes to: a JSON-serializable description that any training
//! framework can build, with exact MAdds and parameter counts.
//!
//! Conventions (those of the MobileNet papers and torchvision's reference models):
//! - **MAdds** = multiply-accumulates of every convolution (squeeze-and-excite 1x1 convolutions
//!   included) and every fully connected layer: `k*k*(c_in/groups)*c_out*H_out*W_out` per conv,
//!   `in*out` per linear layer. Biases, batch norm, activations, pooling, residual additions and
//!   the squeeze-and-excite channel scaling count 0.
//! - **params** = all trainable parameters: conv and linear weights, their biases where present,
//!   and batch-norm scale and shift (2 per channel; running statistics are not parameters).
//! - Convolutions pad `(k-1)/2`, so a stride-`s` layer maps `H` to `ceil(H/s)`.

use serde::{Deserialize, Serialize};

/// Activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    /// None (linear).
    None,
    /// ReLU.
    Relu,
    /// ReLU6 (MobileNetV2).
    Relu6,
    /// Hard-swish (MobileNetV3).
    Hswish,
}

impl Act {
    /// Name as written in arch strings and TOML.
    pub fn name(self) -> &'static str {
        match self {
            Act::None => "none",
            Act::Relu => "relu",
            Act::Relu6 => "relu6",
            Act::Hswish => "hswish",
        }
    }
}

/// Pooling kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    /// Average pooling.
    Avg,
    /// Max pooling.
    Max,
}

/// One layer of a network. `op` names the variant in JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// Convolution (+ batch norm + activation). `groups == c_in` is a depthwise convolution.
    Conv {
        /// Output channels.
        out: u32,
        /// Kernel size (square).
        kernel: u32,
        /// Stride.
        stride: u32,
        /// Groups (1: dense; input channels: depthwise).
        groups: u32,
        /// Convolution bias.
        bias: bool,
        /// Batch norm after the convolution.
        bn: bool,
        /// Activation after it.
        act: Act,
    },
    /// Inverted-residual / MBConv block: 1x1 expansion (omitted when `expanded` equals the input
    /// channels) + BN + act, depthwise `kernel` conv with `stride` + BN + act, optional
    /// squeeze-and-excite (1x1 conv to `se` channels with bias, ReLU, 1x1 conv back with bias,
    /// hard-sigmoid), 1x1 projection + BN; a residual connection when stride is 1 and the input
    /// and output channels are equal.
    Mbconv {
        /// Expanded (hidden) channels.
        expanded: u32,
        /// Output channels.
        out: u32,
        /// Depthwise kernel size.
        kernel: u32,
        /// Depthwise stride.
        stride: u32,
        /// Squeeze channels of squeeze-and-excite, if present.
        se: Option<u32>,
        /// Activation of the expansion and depthwise convs.
        act: Act,
    },
    /// Pooling with a square window.
    Pool {
        /// Average or max.
        kind: PoolKind,
        /// Window.
        kernel: u32,
        /// Stride.
        stride: u32,
    },
    /// Global average pooling to 1x1.
    GlobalPool,
    /// Batch norm + activation (no conv), e.g. NATS-Bench's final `lastact`.
    BnAct {
        /// Activation.
        act: Act,
    },
    /// Fully connected layer on the flattened input; `out` 0 means the number of classes.
    Linear {
        /// Output features.
        out: u32,
        /// Bias.
        bias: bool,
        /// Activation after it.
        act: Act,
    },
    /// NATS-Bench cell with the size space's fixed topology
    /// `|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|`:
    /// edges leaving the cell input map c_in->out (a skip becomes conv1x1 + BN when the channel
    /// counts differ), the others out->out; each conv edge is ReLU-conv3x3-BN without bias.
    NatsCell {
        /// Output channels.
        out: u32,
    },
    /// NATS-Bench ResNet block: ReLU-conv3x3(stride)-BN, ReLU-conv3x3-BN, shortcut
    /// AvgPool2x2 + conv1x1 (no BN) when the stride is 2, ReLU-conv1x1-BN when only the
    /// channel counts differ.
    ResBlock {
        /// Output channels.
        out: u32,
        /// Stride of the first conv.
        stride: u32,
    },
}

/// Input of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Height and width.
    pub resolution: u32,
    /// Channels.
    pub channels: u32,
}

/// A whole network: input, layers in order, number of classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Input shape.
    pub input: Input,
    /// Layers in order.
    pub layers: Vec<Op>,
    /// Number of classes (the width of a `linear` layer with `out` 0).
    pub classes: u32,
}

/// Why a network is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NetworkError {
    /// A channel count, kernel or stride is zero.
    #[error("layer {layer} ({op}): {field} must be positive")]
    NonPositive {
        /// Layer index.
        layer: usize,
        /// Op name.
        op: &'static str,
        /// Field.
        field: &'static str,
    },
    /// A layer's (or the network's) MAdds or params do not fit in 64 bits.
    #[error("layer {layer} ({op}): more than 2^64 MAdds or params")]
    TooLarge {
        /// Layer index (the number of layers: the network's totals).
        layer: usize,
        /// Op name (`total` for the totals).
        op: &'static str,
    },
    /// A stride or pooling window does not fit the feature map.
    #[error("layer {layer} ({op}): {reason}")]
    Shape {
        /// Layer index.
        layer: usize,
        /// Op name.
        op: &'static str,
        /// What does not fit.
        reason: String,
    },
}

/// Shape and cost of one layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerCost {
    /// Input resolution.
    pub input: u32,
    /// Input channels.
    pub in_channels: u32,
    /// Output resolution.
    pub output: u32,
    /// Output channels.
    pub out_channels: u32,
    /// Multiply-accumulates.
    pub madds: u64,
    /// Trainable parameters.
    pub params: u64,
}

/// Totals of a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Multiply-accumulates.
    pub madds: u64,
    /// Trainable parameters.
    pub params: u64,
}

impl Op {
    /// Name as in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv { groups, .. } if *groups > 1 => "dwconv",
            Op::Conv { .. } => "conv",
            Op::Mbconv { .. } => "mbconv",
            Op::Pool { .. } => "pool",
            Op::GlobalPool => "global_pool",
            Op::BnAct { .. } => "bn_act",
            Op::Linear { .. } => "linear",
            Op::NatsCell { .. } => "nats_cell",
            Op::ResBlock { .. } => "res_block",
        }
    }
}

fn out_size(h: u32, stride: u32) -> u32 {
    h.div_ceil(stride)
}

/// Conv weights + bias + BN: (madds, params); `None` when they do not fit in 64 bits.
fn conv(
    cin: u64,
    cout: u64,
    k: u64,
    groups: u64,
    hw_out: u64,
    bias: bool,
    bn: bool,
) -> Option<(u64, u64)> {
    let weights = k
        .checked_mul(k)?
        .checked_mul(cin / groups)?
        .checked_mul(cout)?;
    let params = weights
        .checked_add(if bias { cout } else { 0 })?
        .checked_add(if bn { 2 * cout } else { 0 })?;
    Some((weights.checked_mul(hw_out)?, params))
}

/// Sums (madds, params) pairs, each taken `times` times; `None` if a part is `None` or the sum
/// does not fit in 64 bits.
fn checked(parts: &[(u64, Option<(u64, u64)>)]) -> Option<(u64, u64)> {
    parts
        .iter()
        .try_fold((0u64, 0u64), |(m, p), &(times, part)| {
            let (a, b) = part?;
            Some((
                m.checked_add(a.checked_mul(times)?)?,
                p.checked_add(b.checked_mul(times)?)?,
            ))
        })
}

impl Network {
    /// Shapes and costs, layer by layer; fails on non-positive sizes and on strides or pooling
    /// windows that do not fit the feature map.
    pub fn layer_costs(&self) -> Result<Vec<LayerCost>, NetworkError> {
        let mut h = self.input.resolution;
        let mut c = self.input.channels;
        if h == 0 || c == 0 {
            return Err(NetworkError::NonPositive {
                layer: 0,
                op: "input",
                field: if h == 0 { "resolution" } else { "channels" },
            });
        }
        let mut rows = Vec::with_capacity(self.layers.len());
        for (i, op) in self.layers.iter().enumerate() {
            let name = op.name();
            let positive = |field: &'static str, v: u32| {
                if v == 0 {
                    Err(NetworkError::NonPositive {
                        layer: i,
                        op: name,
                        field,
                    })
                } else {
                    Ok(())
                }
            };
            let stride_fits = |stride: u32, h: u32| {
                if stride > 1 && h < stride {
                    Err(NetworkError::Shape {
                        layer: i,
                        op: name,
                        reason: format!(
                            "stride {stride} would shrink the {h}x{h} feature map below 1x1"
                        ),
                    })
                } else {
                    Ok(())
                }
            };
            let too_large = || NetworkError::TooLarge { layer: i, op: name };
            let (cin, hin) = (c as u64, h);
            let (madds, params, cout, hout);
            match *op {
                Op::Conv {
                    out,
                    kernel,
                    stride,
                    groups,
                    bias,
                    bn,
                    ..
                } => {
                    positive("out", out)?;
                    positive("kernel", kernel)?;
                    positive("stride", stride)?;
                    positive("groups", groups)?;
                    stride_fits(stride, h)?;
                    if !c.is_multiple_of(groups) || !out.is_multiple_of(groups) {
                        return Err(NetworkError::Shape {
                            layer: i,
                            op: name,
                            reason: format!(
                                "groups {groups} must divide input {c} and output {out} channels"
                            ),
                        });
                    }
                    hout = out_size(h, stride);
                    let hw = (hout as u64).pow(2);
                    (madds, params) =
                        conv(cin, out as u64, kernel as u64, groups as u64, hw, bias, bn)
                            .ok_or_else(too_large)?;
                    cout = out;
                }
                Op::Mbconv {
                    expanded,
                    out,
                    kernel,
                    stride,
                    se,
                    ..
                } => {
                    positive("expanded", expanded)?;
                    positive("out", out)?;
                    positive("kernel", kernel)?;
                    positive("stride", stride)?;
                    if se == Some(0) {
                        positive("se", 0)?;
                    }
                    stride_fits(stride, h)?;
                    hout = out_size(h, stride);
                    let (e, o) = (expanded as u64, out as u64);
                    let (hw_in, hw_out) = ((h as u64).pow(2), (hout as u64).pow(2));
                    let mut parts = Vec::with_capacity(5);
                    if expanded != c {
                        parts.push((1, conv(cin, e, 1, 1, hw_in, false, true)));
                    }
                    parts.push((1, conv(e, e, kernel as u64, e, hw_out, false, true)));
                    if let Some(s) = se {
                        let s = s as u64;
                        parts.push((1, conv(e, s, 1, 1, 1, true, false)));
                        parts.push((1, conv(s, e, 1, 1, 1, true, false)));
                    }
                    parts.push((1, conv(e, o, 1, 1, hw_out, false, true)));
                    (madds, params) = checked(&parts).ok_or_else(too_large)?;
                    cout = out;
                }
                Op::Pool { kernel, stride, .. } => {
                    positive("kernel", kernel)?;
                    positive("stride", stride)?;
                    if kernel > h {
                        return Err(NetworkError::Shape {
                            layer: i,
                            op: name,
                            reason: format!(
                                "window {kernel} is larger than the {h}x{h} feature map"
                            ),
                        });
                    }
                    hout = (h - kernel) / stride + 1;
                    (madds, params, cout) = (0, 0, c);
                }
                Op::GlobalPool => {
                    hout = 1;
                    (madds, params, cout) = (0, 0, c);
                }
                Op::BnAct { .. } => {
                    hout = h;
                    (madds, params, cout) = (0, 2 * cin, c);
                }
                Op::Linear { out, bias, .. } => {
                    let out = if out == 0 { self.classes } else { out };
                    positive("out", out)?;
                    let features = cin.checked_mul((h as u64).pow(2)).ok_or_else(too_large)?;
                    madds = features.checked_mul(out as u64).ok_or_else(too_large)?;
                    params = madds
                        .checked_add(if bias { out as u64 } else { 0 })
                        .ok_or_else(too_large)?;
                    hout = 1;
                    cout = out;
                }
                Op::NatsCell { out } => {
                    positive("out", out)?;
                    hout = h;
                    let hw = (h as u64).pow(2);
                    let o = out as u64;
                    // Three conv3x3 edges from the input (two) and inner nodes (three).
                    let skip = if cin != o {
                        conv(cin, o, 1, 1, hw, false, true)
                    } else {
                        Some((0, 0))
                    };
                    (madds, params) = checked(&[
                        (2, conv(cin, o, 3, 1, hw, false, true)),
                        (3, conv(o, o, 3, 1, hw, false, true)),
                        (1, skip),
                    ])
                    .ok_or_else(too_large)?;
                    cout = out;
                }
                Op::ResBlock { out, stride } => {
                    positive("out", out)?;
                    positive("stride", stride)?;
                    stride_fits(stride, h)?;
                    hout = out_size(h, stride);
                    let hw = (hout as u64).pow(2);
                    let o = out as u64;
                    let shortcut = if stride == 2 {
                        conv(cin, o, 1, 1, hw, false, false)
                    } else if cin != o {
                        conv(cin, o, 1, 1, hw, false, true)
                    } else {
                        Some((0, 0))
                    };
                    (madds, params) = checked(&[
                        (1, conv(cin, o, 3, 1, hw, false, true)),
                        (1, conv(o, o, 3, 1, hw, false, true)),
                        (1, shortcut),
                    ])
                    .ok_or_else(too_large)?;
                    cout = out;
                }
            }
            rows.push(LayerCost {
                input: hin,
                in_channels: cin as u32,
                output: hout,
                out_channels: cout,
                madds,
                params,
            });
            h = hout;
            c = cout;
        }
        Ok(rows)
    }

    /// Total MAdds and params; fails as [`layer_costs`](Network::layer_costs) does, and when a
    /// total does not fit in 64 bits.
    pub fn totals(&self) -> Result<Totals, NetworkError> {
        let rows = self.layer_costs()?;
        let parts: Vec<(u64, Option<(u64, u64)>)> = rows
            .iter()
            .map(|r| (1, Some((r.madds, r.params))))
            .collect();
        let (madds, params) = checked(&parts).ok_or(NetworkError::TooLarge {
            layer: rows.len(),
            op: "total",
        })?;
        Ok(Totals { madds, params })
    }
}

/// `v` rounded to a multiple of `divisor`, never below `divisor` nor more than 10% below `v`
/// (the rounding of the MobileNet reference code).
pub fn make_divisible(v: f64, divisor: u32) -> u32 {
    let d = divisor as f64;
    let mut rounded = (d as u32).max(((v + d / 2.0) / d).floor() as u32 * divisor);
    if (rounded as f64) < 0.9 * v {
        rounded += divisor;
    }
    rounded
}

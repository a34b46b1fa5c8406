//! The one lowering of a network description: every op as primitive blocks (convolutions with
//! their padding, groups, bias, batch norm and activation; squeeze-and-excite; shortcuts) with
//! every structural decision already taken (an MBConv's expansion is omitted when it would keep
//! the channel count, a residual joins when the shape is kept, a NATS skip edge becomes a 1x1
//! convolution when the channels change, ...). Every engine (burn in `layernas-train`, libtorch
//! in `torch/`) and every exporter builds exactly these blocks, so they cannot drift apart; the
//! engine conformance suite ([`crate::conformance`]) holds them to it.

use layernas_spaces::network::{Act, Input, Network, NetworkError, Op, PoolKind};

/// A 2-D convolution, optionally preceded by a ReLU and followed by batch norm and an
/// activation. Padding is `kernel / 2` on every side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Square kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Groups (`cin` for a depthwise convolution).
    pub groups: usize,
    /// A bias on the convolution.
    pub bias: bool,
    /// Batch norm after the convolution.
    pub bn: bool,
    /// Activation after batch norm.
    pub act: Act,
    /// A ReLU before the convolution (NATS-Bench's ReLU-conv-BN).
    pub pre_relu: bool,
}

impl ConvSpec {
    /// Convolution + batch norm + `act`, no bias (the usual block).
    pub fn conv_bn(
        cin: usize,
        cout: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
        act: Act,
    ) -> Self {
        ConvSpec {
            cin,
            cout,
            kernel,
            stride,
            groups,
            bias: false,
            bn: true,
            act,
            pre_relu: false,
        }
    }

    /// NATS-Bench's ReLU, convolution (no bias), batch norm.
    pub fn relu_conv_bn(cin: usize, cout: usize, kernel: usize, stride: usize) -> Self {
        ConvSpec {
            pre_relu: true,
            ..ConvSpec::conv_bn(cin, cout, kernel, stride, 1, Act::None)
        }
    }

    /// A plain convolution (no batch norm, no activation).
    pub fn plain(cin: usize, cout: usize, kernel: usize, stride: usize, bias: bool) -> Self {
        ConvSpec {
            bias,
            bn: false,
            ..ConvSpec::conv_bn(cin, cout, kernel, stride, 1, Act::None)
        }
    }

    /// Padding on each side.
    pub fn padding(&self) -> usize {
        self.kernel / 2
    }

    /// Output size of a `size` x `size` input.
    pub fn output(&self, size: usize) -> usize {
        (size + 2 * self.padding() - self.kernel) / self.stride + 1
    }

    /// Trainable parameters: weights, bias, and batch norm's scale and shift.
    pub fn params(&self) -> u64 {
        let weights = self.cout * (self.cin / self.groups) * self.kernel * self.kernel;
        (weights + if self.bias { self.cout } else { 0 } + if self.bn { 2 * self.cout } else { 0 })
            as u64
    }
}

/// Squeeze-and-excite: global average pool, 1x1 convolution to `squeeze` channels with bias,
/// ReLU, 1x1 convolution back with bias, hard sigmoid (`relu6(x + 3) / 6`), scale the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqueezeExcite {
    /// The reducing convolution.
    pub reduce: ConvSpec,
    /// The expanding convolution.
    pub expand: ConvSpec,
}

/// The shortcut of a NATS-Bench ResNet block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shortcut {
    /// The input itself.
    Identity,
    /// 2x2 average pooling (stride 2), then this 1x1 convolution (no batch norm).
    PoolConv(ConvSpec),
    /// This ReLU-conv1x1-BN.
    Conv(ConvSpec),
}

/// One op of the network, lowered.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A convolution.
    Conv(ConvSpec),
    /// An inverted-residual (MBConv) block: optional expansion, depthwise convolution,
    /// optional squeeze-and-excite, projection, and the input added when `residual`.
    Mbconv {
        /// 1x1 expansion, absent when the expanded width equals the input's.
        expand: Option<ConvSpec>,
        /// Depthwise convolution.
        depthwise: ConvSpec,
        /// Squeeze-and-excite on the depthwise output.
        se: Option<SqueezeExcite>,
        /// 1x1 projection with batch norm, no activation.
        project: ConvSpec,
        /// Add the input (stride 1, equal input and output channels).
        residual: bool,
    },
    /// Pooling with a square window and no padding.
    Pool {
        /// Average or max.
        kind: PoolKind,
        /// Window.
        kernel: usize,
        /// Stride.
        stride: usize,
    },
    /// Global average pooling to 1x1.
    GlobalPool,
    /// Batch norm over `channels`, then `act`.
    BnAct {
        /// Channels.
        channels: usize,
        /// Activation.
        act: Act,
    },
    /// Fully connected layer on the flattened input, then `act`; its output is a 1x1 map.
    Linear {
        /// Input features (channels x height x width).
        features: usize,
        /// Output features.
        out: usize,
        /// Bias.
        bias: bool,
        /// Activation.
        act: Act,
    },
    /// NATS-Bench cell: node 1 = e10(x); node 2 = e20(x) + e21(node 1); output = skip(x) +
    /// e31(node 1) + e32(node 2), where skip is `e30` when present and the input otherwise.
    NatsCell {
        /// Input to node 1.
        e10: ConvSpec,
        /// Input to node 2.
        e20: ConvSpec,
        /// Node 1 to node 2.
        e21: ConvSpec,
        /// The skip edge, a 1x1 ReLU-conv-BN when the channels change.
        e30: Option<ConvSpec>,
        /// Node 1 to the output.
        e31: ConvSpec,
        /// Node 2 to the output.
        e32: ConvSpec,
    },
    /// NATS-Bench ResNet block: b(a(x)) + shortcut(x).
    ResBlock {
        /// First ReLU-conv3x3-BN (with the block's stride).
        a: ConvSpec,
        /// Second ReLU-conv3x3-BN.
        b: ConvSpec,
        /// The shortcut.
        shortcut: Shortcut,
    },
}

impl Block {
    /// The block's convolutions, each with the name its parameters take (relative to the
    /// block): the names every engine and exporter uses.
    pub fn convs(&self) -> Vec<(&'static str, ConvSpec)> {
        match self {
            Block::Conv(c) => vec![("conv", *c)],
            Block::Mbconv {
                expand,
                depthwise,
                se,
                project,
                ..
            } => {
                let mut v = Vec::new();
                if let Some(e) = expand {
                    v.push(("expand", *e));
                }
                v.push(("dw", *depthwise));
                if let Some(s) = se {
                    v.push(("se_reduce", s.reduce));
                    v.push(("se_expand", s.expand));
                }
                v.push(("project", *project));
                v
            }
            Block::NatsCell {
                e10,
                e20,
                e21,
                e30,
                e31,
                e32,
            } => {
                let mut v = vec![("e10", *e10), ("e20", *e20), ("e21", *e21)];
                if let Some(e) = e30 {
                    v.push(("e30", *e));
                }
                v.extend([("e31", *e31), ("e32", *e32)]);
                v
            }
            Block::ResBlock { a, b, shortcut } => {
                let mut v = vec![("a", *a), ("b", *b)];
                match shortcut {
                    Shortcut::Identity => {}
                    Shortcut::PoolConv(c) | Shortcut::Conv(c) => v.push(("short", *c)),
                }
                v
            }
            Block::Pool { .. } | Block::GlobalPool | Block::BnAct { .. } | Block::Linear { .. } => {
                Vec::new()
            }
        }
    }

    /// Trainable parameters of the block.
    pub fn params(&self) -> u64 {
        let convs: u64 = self.convs().iter().map(|(_, c)| c.params()).sum();
        convs
            + match self {
                Block::BnAct { channels, .. } => 2 * *channels as u64,
                Block::Linear {
                    features,
                    out,
                    bias,
                    ..
                } => (features * out + if *bias { *out } else { 0 }) as u64,
                _ => 0,
            }
    }
}

/// A network lowered to blocks, with the shape after each.
#[derive(Debug, Clone, PartialEq)]
pub struct Lowered {
    /// The input.
    pub input: Input,
    /// The blocks, in order.
    pub blocks: Vec<Block>,
    /// `[channels, height, width]` after each block.
    pub shapes: Vec<[usize; 3]>,
    /// Global average pooling before the logits, when the last block leaves a spatial map.
    pub head_pool: bool,
    /// Logits.
    pub classes: usize,
}

impl Lowered {
    /// Trainable parameters of the whole network.
    pub fn params(&self) -> u64 {
        self.blocks.iter().map(Block::params).sum()
    }
}

/// Lowers a (valid) network description.
pub fn lower(network: &Network) -> Result<Lowered, NetworkError> {
    let rows = network.layer_costs()?;
    let mut blocks = Vec::with_capacity(rows.len());
    let mut shapes = Vec::with_capacity(rows.len());
    for (op, row) in network.layers.iter().zip(&rows) {
        let cin = row.in_channels as usize;
        let block = match *op {
            Op::Conv {
                out,
                kernel,
                stride,
                groups,
                bias,
                bn,
                act,
            } => Block::Conv(ConvSpec {
                bias,
                bn,
                ..ConvSpec::conv_bn(
                    cin,
                    out as usize,
                    kernel as usize,
                    stride as usize,
                    groups as usize,
                    act,
                )
            }),
            Op::Mbconv {
                expanded,
                out,
                kernel,
                stride,
                se,
                act,
            } => {
                let (e, o) = (expanded as usize, out as usize);
                Block::Mbconv {
                    expand: (e != cin).then(|| ConvSpec::conv_bn(cin, e, 1, 1, 1, act)),
                    depthwise: ConvSpec::conv_bn(e, e, kernel as usize, stride as usize, e, act),
                    se: se.map(|s| SqueezeExcite {
                        reduce: ConvSpec::plain(e, s as usize, 1, 1, true),
                        expand: ConvSpec::plain(s as usize, e, 1, 1, true),
                    }),
                    project: ConvSpec::conv_bn(e, o, 1, 1, 1, Act::None),
                    residual: stride == 1 && cin == o,
                }
            }
            Op::Pool {
                kind,
                kernel,
                stride,
            } => Block::Pool {
                kind,
                kernel: kernel as usize,
                stride: stride as usize,
            },
            Op::GlobalPool => Block::GlobalPool,
            Op::BnAct { act } => Block::BnAct { channels: cin, act },
            Op::Linear { bias, act, .. } => Block::Linear {
                features: cin * (row.input as usize).pow(2),
                out: row.out_channels as usize,
                bias,
                act,
            },
            Op::NatsCell { out } => {
                let o = out as usize;
                Block::NatsCell {
                    e10: ConvSpec::relu_conv_bn(cin, o, 3, 1),
                    e20: ConvSpec::relu_conv_bn(cin, o, 3, 1),
                    e21: ConvSpec::relu_conv_bn(o, o, 3, 1),
                    e30: (cin != o).then(|| ConvSpec::relu_conv_bn(cin, o, 1, 1)),
                    e31: ConvSpec::relu_conv_bn(o, o, 3, 1),
                    e32: ConvSpec::relu_conv_bn(o, o, 3, 1),
                }
            }
            Op::ResBlock { out, stride } => {
                let (o, s) = (out as usize, stride as usize);
                Block::ResBlock {
                    a: ConvSpec::relu_conv_bn(cin, o, 3, s),
                    b: ConvSpec::relu_conv_bn(o, o, 3, 1),
                    shortcut: if s == 2 {
                        Shortcut::PoolConv(ConvSpec::plain(cin, o, 1, 1, false))
                    } else if cin != o {
                        Shortcut::Conv(ConvSpec::relu_conv_bn(cin, o, 1, 1))
                    } else {
                        Shortcut::Identity
                    },
                }
            }
        };
        blocks.push(block);
        shapes.push([
            row.out_channels as usize,
            row.output as usize,
            row.output as usize,
        ]);
    }
    let last = rows
        .last()
        .map_or((network.input.resolution, network.input.channels), |r| {
            (r.output, r.out_channels)
        });
    Ok(Lowered {
        input: network.input,
        blocks,
        shapes,
        head_pool: last.0 > 1,
        classes: last.1 as usize,
    })
}

/// The proxy network a trial trains: `network` with fewer repeated blocks (`depth`), adapted to
/// the data's input and classes and scaled by `width` — the one recipe every engine follows.
pub fn proxy(
    network: &Network,
    input: Input,
    classes: u32,
    config: &crate::TrainConfig,
) -> Result<Network, String> {
    let shallow = crate::scale_depth(network, config.depth).map_err(|e| e.to_string())?;
    crate::adapt(&shallow, input, classes, config.width).map_err(|e| {
        format!(
            "the network does not fit a {0}x{0} input: {e}",
            input.resolution
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_match_the_network_description_count() {
        // The description's own parameter count (`layer_costs`) and the lowering's agree for
        // every op: the lowering takes the same structural decisions.
        for net in crate::conformance::networks() {
            let lowered = lower(&net).unwrap();
            let rows = net.layer_costs().unwrap();
            let described: u64 = rows.iter().map(|r| r.params).sum();
            assert_eq!(lowered.params(), described, "{net:?}");
        }
    }
}

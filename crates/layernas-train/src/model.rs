//! A burn model built from a network description.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{
    AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool2d, AvgPool2dConfig, MaxPool2d,
    MaxPool2dConfig,
};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{hard_sigmoid, hard_swish, relu};
use layernas_spaces::network::{Act, Network, NetworkError, Op, PoolKind};

fn activate(act: Act, x: Tensor<4>) -> Tensor<4> {
    match act {
        Act::None => x,
        Act::Relu => relu(x),
        Act::Relu6 => relu(x).clamp_max(6.0),
        Act::Hswish => hard_swish(x),
    }
}

fn conv(
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    groups: usize,
    bias: bool,
    device: &Device,
) -> Conv2d {
    let p = k / 2;
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_groups(groups)
        .with_bias(bias)
        .init(device)
}

/// Convolution + optional batch norm + activation.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: Option<BatchNorm>,
    #[module(skip)]
    act: Act,
}

impl ConvBn {
    #[allow(clippy::too_many_arguments)]
    fn new(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        groups: usize,
        bias: bool,
        bn: bool,
        act: Act,
        device: &Device,
    ) -> Self {
        ConvBn {
            conv: conv(cin, cout, k, stride, groups, bias, device),
            bn: bn.then(|| BatchNormConfig::new(cout).init(device)),
            act,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let y = self.conv.forward(x);
        let y = match &self.bn {
            Some(bn) => bn.forward(y),
            None => y,
        };
        activate(self.act, y)
    }
}

/// ReLU, convolution (no bias), batch norm: the NATS-Bench op.
#[derive(Module, Debug)]
pub struct ReluConvBn {
    conv: Conv2d,
    bn: BatchNorm,
}

impl ReluConvBn {
    fn new(cin: usize, cout: usize, k: usize, stride: usize, device: &Device) -> Self {
        ReluConvBn {
            conv: conv(cin, cout, k, stride, 1, false, device),
            bn: BatchNormConfig::new(cout).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.bn.forward(self.conv.forward(relu(x)))
    }
}

/// Squeeze-and-excite.
#[derive(Module, Debug)]
pub struct Se {
    pool: AdaptiveAvgPool2d,
    reduce: Conv2d,
    expand: Conv2d,
}

/// MBConv block.
#[derive(Module, Debug)]
pub struct Mb {
    expand: Option<ConvBn>,
    dw: ConvBn,
    se: Option<Se>,
    project: ConvBn,
    #[module(skip)]
    residual: bool,
}

impl Mb {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let mut y = match &self.expand {
            Some(e) => e.forward(x.clone()),
            None => x.clone(),
        };
        y = self.dw.forward(y);
        if let Some(se) = &self.se {
            let s = se.pool.forward(y.clone());
            let s = hard_sigmoid(
                se.expand.forward(relu(se.reduce.forward(s))),
                1.0 / 6.0,
                0.5,
            );
            let shape = y.shape();
            y = y * s.expand(shape);
        }
        let y = self.project.forward(y);
        if self.residual {
            x + y
        } else {
            y
        }
    }
}

/// NATS-Bench cell of the size space's fixed topology.
#[derive(Module, Debug)]
pub struct Cell {
    e10: ReluConvBn,
    e20: ReluConvBn,
    e21: ReluConvBn,
    e30: Option<ReluConvBn>,
    e31: ReluConvBn,
    e32: ReluConvBn,
}

impl Cell {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let n1 = self.e10.forward(x.clone());
        let n2 = self.e20.forward(x.clone()) + self.e21.forward(n1.clone());
        let skip = match &self.e30 {
            Some(c) => c.forward(x),
            None => x,
        };
        skip + self.e31.forward(n1) + self.e32.forward(n2)
    }
}

/// NATS-Bench ResNet block.
#[derive(Module, Debug)]
pub struct Res {
    a: ReluConvBn,
    b: ReluConvBn,
    pool: Option<AvgPool2d>,
    short_conv: Option<Conv2d>,
    short_rcb: Option<ReluConvBn>,
}

impl Res {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let main = self.b.forward(self.a.forward(x.clone()));
        let short = match (&self.pool, &self.short_conv, &self.short_rcb) {
            (Some(p), Some(c), _) => c.forward(p.forward(x)),
            (_, _, Some(r)) => r.forward(x),
            _ => x,
        };
        short + main
    }
}

/// Fully connected layer on the flattened input.
#[derive(Module, Debug)]
pub struct Dense {
    linear: Linear,
    #[module(skip)]
    act: Act,
}

/// Batch norm + activation.
#[derive(Module, Debug)]
pub struct BnAct {
    bn: BatchNorm,
    #[module(skip)]
    act: Act,
}

/// One layer of a [`Net`].
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Layer {
    /// Convolution.
    Conv(ConvBn),
    /// MBConv.
    Mb(Mb),
    /// Average pooling.
    Avg(AvgPool2d),
    /// Max pooling.
    Max(MaxPool2d),
    /// Global average pooling.
    Global(AdaptiveAvgPool2d),
    /// Batch norm + activation.
    BnAct(BnAct),
    /// Fully connected.
    Dense(Dense),
    /// NATS cell.
    Cell(Cell),
    /// NATS ResNet block.
    Res(Res),
}

/// A network description as a burn model.
#[derive(Module, Debug)]
pub struct Net {
    layers: Vec<Layer>,
    /// Global pooling added before the logits when the last layer leaves a spatial map.
    head_pool: Option<AdaptiveAvgPool2d>,
    #[module(skip)]
    classes: usize,
}

impl Net {
    /// Logits `[batch, classes]` of images `[batch, channels, height, width]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = self.forward_map(x);
        if let Some(p) = &self.head_pool {
            x = p.forward(x);
        }
        let [b, c, h, w] = x.dims();
        x.reshape([b, c * h * w])
    }

    /// The output of the layers, without the final pooling and flattening (for timing).
    pub fn forward_map(&self, mut x: Tensor<4>) -> Tensor<4> {
        for layer in &self.layers {
            x = match layer {
                Layer::Conv(c) => c.forward(x),
                Layer::Mb(m) => m.forward(x),
                Layer::Avg(p) => p.forward(x),
                Layer::Max(p) => p.forward(x),
                Layer::Global(p) => p.forward(x),
                Layer::BnAct(b) => activate(b.act, b.bn.forward(x)),
                Layer::Cell(c) => c.forward(x),
                Layer::Res(r) => r.forward(x),
                Layer::Dense(d) => {
                    let [b, c, h, w] = x.dims();
                    let flat: Tensor<2> = x.reshape([b, c * h * w]);
                    let y = d.linear.forward(flat);
                    let out = y.dims()[1];
                    activate(d.act, y.reshape([b, out, 1, 1]))
                }
            };
        }
        x
    }

    /// Number of classes of the logits.
    pub fn classes(&self) -> usize {
        self.classes
    }
}

/// Builds the model of a (valid) network on `device`.
pub fn build(network: &Network, device: &Device) -> Result<Net, NetworkError> {
    let rows = network.layer_costs()?;
    let mut layers = Vec::with_capacity(network.layers.len());
    for (op, row) in network.layers.iter().zip(&rows) {
        let cin = row.in_channels as usize;
        let layer = match *op {
            Op::Conv {
                out,
                kernel,
                stride,
                groups,
                bias,
                bn,
                act,
            } => Layer::Conv(ConvBn::new(
                cin,
                out as usize,
                kernel as usize,
                stride as usize,
                groups as usize,
                bias,
                bn,
                act,
                device,
            )),
            Op::Mbconv {
                expanded,
                out,
                kernel,
                stride,
                se,
                act,
            } => {
                let (e, o) = (expanded as usize, out as usize);
                Layer::Mb(Mb {
                    expand: (e != cin)
                        .then(|| ConvBn::new(cin, e, 1, 1, 1, false, true, act, device)),
                    dw: ConvBn::new(
                        e,
                        e,
                        kernel as usize,
                        stride as usize,
                        e,
                        false,
                        true,
                        act,
                        device,
                    ),
                    se: se.map(|s| Se {
                        pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
                        reduce: conv(e, s as usize, 1, 1, 1, true, device),
                        expand: conv(s as usize, e, 1, 1, 1, true, device),
                    }),
                    project: ConvBn::new(e, o, 1, 1, 1, false, true, Act::None, device),
                    residual: stride == 1 && cin == o,
                })
            }
            Op::Pool {
                kind,
                kernel,
                stride,
            } => {
                let (k, s) = (kernel as usize, stride as usize);
                match kind {
                    PoolKind::Avg => {
                        Layer::Avg(AvgPool2dConfig::new([k, k]).with_strides([s, s]).init())
                    }
                    PoolKind::Max => {
                        Layer::Max(MaxPool2dConfig::new([k, k]).with_strides([s, s]).init())
                    }
                }
            }
            Op::GlobalPool => Layer::Global(AdaptiveAvgPool2dConfig::new([1, 1]).init()),
            Op::BnAct { act } => Layer::BnAct(BnAct {
                bn: BatchNormConfig::new(cin).init(device),
                act,
            }),
            Op::Linear { bias, act, .. } => {
                let features = cin * (row.input as usize).pow(2);
                Layer::Dense(Dense {
                    linear: LinearConfig::new(features, row.out_channels as usize)
                        .with_bias(bias)
                        .init(device),
                    act,
                })
            }
            Op::NatsCell { out } => {
                let o = out as usize;
                Layer::Cell(Cell {
                    e10: ReluConvBn::new(cin, o, 3, 1, device),
                    e20: ReluConvBn::new(cin, o, 3, 1, device),
                    e21: ReluConvBn::new(o, o, 3, 1, device),
                    e30: (cin != o).then(|| ReluConvBn::new(cin, o, 1, 1, device)),
                    e31: ReluConvBn::new(o, o, 3, 1, device),
                    e32: ReluConvBn::new(o, o, 3, 1, device),
                })
            }
            Op::ResBlock { out, stride } => {
                let (o, s) = (out as usize, stride as usize);
                Layer::Res(Res {
                    a: ReluConvBn::new(cin, o, 3, s, device),
                    b: ReluConvBn::new(o, o, 3, 1, device),
                    pool: (s == 2)
                        .then(|| AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init()),
                    short_conv: (s == 2).then(|| conv(cin, o, 1, 1, 1, false, device)),
                    short_rcb: (s != 2 && cin != o).then(|| ReluConvBn::new(cin, o, 1, 1, device)),
                })
            }
        };
        layers.push(layer);
    }
    let last = rows
        .last()
        .map_or((network.input.resolution, network.input.channels), |r| {
            (r.output, r.out_channels)
        });
    Ok(Net {
        layers,
        head_pool: (last.0 > 1).then(|| AdaptiveAvgPool2dConfig::new([1, 1]).init()),
        classes: last.1 as usize,
    })
}

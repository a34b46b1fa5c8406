//! The libtorch engine of layernas (tch 0.26 / libtorch 2.13): the same network descriptions,
//! proxies, data split, batches, schedule and optimizers as the built-in burn trainer, on the CPU
//! or a CUDA device. `layernas search --engine torch` runs the `layernas-torch` program (this
//! crate's binary) once per trial through the command-evaluator protocol.
#![warn(missing_docs)]

use layernas_proxy::{
    batch_data, parse_device, Dataset, FashionMnist, OptimizerKind, Plan, TrainConfig, TrainResult,
};
use layernas_spaces::network::{Act, Network, Op, PoolKind};
use std::sync::Mutex;
use std::time::Instant;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// libtorch's generator is process-wide: seeding and building (parameters initialise eagerly)
/// happen under this lock so that concurrent trials keep their own seeds.
static INIT: Mutex<()> = Mutex::new(());

fn activate(act: Act, x: Tensor) -> Tensor {
    match act {
        Act::None => x,
        Act::Relu => x.relu(),
        Act::Relu6 => x.relu6(),
        Act::Hswish => x.hardswish(),
    }
}

/// PyTorch's (and burn's) default initialisation, which tch's defaults differ from: weights
/// uniform in +-1/sqrt(fan_in) (Kaiming uniform with gain 1/sqrt(3)), biases likewise.
fn torch_default_weight() -> nn::Init {
    nn::Init::Kaiming {
        dist: nn::init::NormalOrUniform::Uniform,
        fan: nn::init::FanInOut::FanIn,
        non_linearity: nn::init::NonLinearity::ExplicitGain(1.0 / 3f64.sqrt()),
    }
}

fn torch_default_bias(fan_in: i64) -> nn::Init {
    let bound = 1.0 / (fan_in as f64).sqrt();
    nn::Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

#[allow(clippy::too_many_arguments)]
fn conv(
    p: nn::Path,
    cin: i64,
    cout: i64,
    k: i64,
    stride: i64,
    groups: i64,
    bias: bool,
) -> nn::Conv2D {
    nn::conv2d(
        p,
        cin,
        cout,
        k,
        nn::ConvConfig {
            stride,
            padding: k / 2,
            groups,
            bias,
            ws_init: torch_default_weight(),
            bs_init: torch_default_bias(cin / groups * k * k),
            ..Default::default()
        },
    )
}

/// Batch norm as PyTorch initialises it (scale 1, shift 0; tch draws the scale from U(0, 1)).
fn bn(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(
        p,
        c,
        nn::BatchNormConfig {
            ws_init: nn::Init::Const(1.0),
            bs_init: nn::Init::Const(0.0),
            ..Default::default()
        },
    )
}

struct ConvBn {
    conv: nn::Conv2D,
    bn: Option<nn::BatchNorm>,
    act: Act,
}

impl ConvBn {
    #[allow(clippy::too_many_arguments)]
    fn new(
        p: &nn::Path,
        cin: i64,
        cout: i64,
        k: i64,
        stride: i64,
        groups: i64,
        bias: bool,
        with_bn: bool,
        act: Act,
    ) -> Self {
        ConvBn {
            conv: conv(p / "conv", cin, cout, k, stride, groups, bias),
            bn: with_bn.then(|| bn(p / "bn", cout)),
            act,
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let y = x.apply(&self.conv);
        let y = match &self.bn {
            Some(b) => y.apply_t(b, train),
            None => y,
        };
        activate(self.act, y)
    }
}

/// ReLU, convolution (no bias), batch norm: the NATS-Bench op.
struct ReluConvBn {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
}

impl ReluConvBn {
    fn new(p: &nn::Path, cin: i64, cout: i64, k: i64, stride: i64) -> Self {
        ReluConvBn {
            conv: conv(p / "conv", cin, cout, k, stride, 1, false),
            bn: bn(p / "bn", cout),
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        x.relu().apply(&self.conv).apply_t(&self.bn, train)
    }
}

struct Mb {
    expand: Option<ConvBn>,
    dw: ConvBn,
    se: Option<(nn::Conv2D, nn::Conv2D)>,
    project: ConvBn,
    residual: bool,
}

impl Mb {
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut y = match &self.expand {
            Some(e) => e.forward(x, train),
            None => x.shallow_clone(),
        };
        y = self.dw.forward(&y, train);
        if let Some((reduce, expand)) = &self.se {
            let s = y
                .adaptive_avg_pool2d([1, 1])
                .apply(reduce)
                .relu()
                .apply(expand)
                .hardsigmoid();
            y *= s;
        }
        let y = self.project.forward(&y, train);
        if self.residual {
            x + y
        } else {
            y
        }
    }
}

struct Cell {
    e10: ReluConvBn,
    e20: ReluConvBn,
    e21: ReluConvBn,
    e30: Option<ReluConvBn>,
    e31: ReluConvBn,
    e32: ReluConvBn,
}

impl Cell {
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let n1 = self.e10.forward(x, train);
        let n2 = self.e20.forward(x, train) + self.e21.forward(&n1, train);
        let skip = match &self.e30 {
            Some(c) => c.forward(x, train),
            None => x.shallow_clone(),
        };
        skip + self.e31.forward(&n1, train) + self.e32.forward(&n2, train)
    }
}

struct Res {
    a: ReluConvBn,
    b: ReluConvBn,
    /// Stride 2: average pool then 1x1 conv.
    short_conv: Option<nn::Conv2D>,
    short_rcb: Option<ReluConvBn>,
}

impl Res {
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let main = self.b.forward(&self.a.forward(x, train), train);
        let short = match (&self.short_conv, &self.short_rcb) {
            (Some(c), _) => x
                .avg_pool2d([2, 2], [2, 2], [0, 0], false, true, None)
                .apply(c),
            (_, Some(r)) => r.forward(x, train),
            _ => x.shallow_clone(),
        };
        short + main
    }
}

#[allow(clippy::large_enum_variant)]
enum Layer {
    Conv(ConvBn),
    Mb(Mb),
    Pool {
        kind: PoolKind,
        kernel: i64,
        stride: i64,
    },
    Global,
    BnAct(nn::BatchNorm, Act),
    Dense(nn::Linear, Act),
    Cell(Cell),
    Res(Res),
}

/// A network description as a libtorch model (its parameters live in the `VarStore` it was
/// built in).
pub struct TorchNet {
    layers: Vec<Layer>,
    head_pool: bool,
}

impl TorchNet {
    /// Builds `network` with its parameters under `root`.
    pub fn build(network: &Network, root: &nn::Path) -> Result<TorchNet, String> {
        let rows = network.layer_costs().map_err(|e| e.to_string())?;
        let mut layers = Vec::with_capacity(rows.len());
        for (i, (op, row)) in network.layers.iter().zip(&rows).enumerate() {
            let p = root / i;
            let cin = row.in_channels as i64;
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
                    &p,
                    cin,
                    out as i64,
                    kernel as i64,
                    stride as i64,
                    groups as i64,
                    bias,
                    bn,
                    act,
                )),
                Op::Mbconv {
                    expanded,
                    out,
                    kernel,
                    stride,
                    se,
                    act,
                } => {
                    let (e, o) = (expanded as i64, out as i64);
                    Layer::Mb(Mb {
                        expand: (e != cin).then(|| {
                            ConvBn::new(&(&p / "expand"), cin, e, 1, 1, 1, false, true, act)
                        }),
                        dw: ConvBn::new(
                            &(&p / "dw"),
                            e,
                            e,
                            kernel as i64,
                            stride as i64,
                            e,
                            false,
                            true,
                            act,
                        ),
                        se: se.map(|s| {
                            (
                                conv(&p / "se_reduce", e, s as i64, 1, 1, 1, true),
                                conv(&p / "se_expand", s as i64, e, 1, 1, 1, true),
                            )
                        }),
                        project: ConvBn::new(
                            &(&p / "project"),
                            e,
                            o,
                            1,
                            1,
                            1,
                            false,
                            true,
                            Act::None,
                        ),
                        residual: stride == 1 && cin == o,
                    })
                }
                Op::Pool {
                    kind,
                    kernel,
                    stride,
                } => Layer::Pool {
                    kind,
                    kernel: kernel as i64,
                    stride: stride as i64,
                },
                Op::GlobalPool => Layer::Global,
                Op::BnAct { act } => Layer::BnAct(bn(&p / "bn", cin), act),
                Op::Linear { bias, act, .. } => {
                    let features = cin * (row.input as i64).pow(2);
                    Layer::Dense(
                        nn::linear(
                            &p / "linear",
                            features,
                            row.out_channels as i64,
                            nn::LinearConfig {
                                bias,
                                ws_init: torch_default_weight(),
                                bs_init: Some(torch_default_bias(features)),
                            },
                        ),
                        act,
                    )
                }
                Op::NatsCell { out } => {
                    let o = out as i64;
                    Layer::Cell(Cell {
                        e10: ReluConvBn::new(&(&p / "e10"), cin, o, 3, 1),
                        e20: ReluConvBn::new(&(&p / "e20"), cin, o, 3, 1),
                        e21: ReluConvBn::new(&(&p / "e21"), o, o, 3, 1),
                        e30: (cin != o).then(|| ReluConvBn::new(&(&p / "e30"), cin, o, 1, 1)),
                        e31: ReluConvBn::new(&(&p / "e31"), o, o, 3, 1),
                        e32: ReluConvBn::new(&(&p / "e32"), o, o, 3, 1),
                    })
                }
                Op::ResBlock { out, stride } => {
                    let (o, s) = (out as i64, stride as i64);
                    Layer::Res(Res {
                        a: ReluConvBn::new(&(&p / "a"), cin, o, 3, s),
                        b: ReluConvBn::new(&(&p / "b"), o, o, 3, 1),
                        short_conv: (s == 2).then(|| conv(&p / "short", cin, o, 1, 1, 1, false)),
                        short_rcb: (s != 2 && cin != o)
                            .then(|| ReluConvBn::new(&(&p / "short"), cin, o, 1, 1)),
                    })
                }
            };
            layers.push(layer);
        }
        let last = rows.last().map_or(network.input.resolution, |r| r.output);
        Ok(TorchNet {
            layers,
            head_pool: last > 1,
        })
    }

    /// Logits `[batch, classes]` of images `[batch, channels, height, width]`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut x = x.shallow_clone();
        for layer in &self.layers {
            x = match layer {
                Layer::Conv(c) => c.forward(&x, train),
                Layer::Mb(m) => m.forward(&x, train),
                Layer::Pool {
                    kind: PoolKind::Avg,
                    kernel,
                    stride,
                } => x.avg_pool2d([*kernel; 2], [*stride; 2], [0, 0], false, true, None),
                Layer::Pool {
                    kind: PoolKind::Max,
                    kernel,
                    stride,
                } => x.max_pool2d([*kernel; 2], [*stride; 2], [0, 0], [1, 1], false),
                Layer::Global => x.adaptive_avg_pool2d([1, 1]),
                Layer::BnAct(b, act) => activate(*act, x.apply_t(b, train)),
                Layer::Cell(c) => c.forward(&x, train),
                Layer::Res(r) => r.forward(&x, train),
                Layer::Dense(l, act) => {
                    let b = x.size()[0];
                    let y = x.reshape([b, -1]).apply(l);
                    let out = y.size()[1];
                    activate(*act, y).reshape([b, out, 1, 1])
                }
            };
        }
        if self.head_pool {
            x = x.adaptive_avg_pool2d([1, 1]);
        }
        let b = x.size()[0];
        x.reshape([b, -1])
    }
}

fn batch(data: &Dataset, idx: &[usize], device: Device) -> (Tensor, Tensor) {
    let (pixels, labels) = batch_data(data, idx);
    let x = Tensor::from_slice(&pixels)
        .reshape([idx.len() as i64, 1, data.rows as i64, data.cols as i64])
        .to_device(device);
    let y = Tensor::from_slice(&labels).to_device(device);
    (x, y)
}

fn accuracy(model: &TorchNet, data: &Dataset, idx: &[usize], device: Device) -> f64 {
    let correct: i64 = tch::no_grad(|| {
        idx.chunks(250)
            .map(|chunk| {
                let (x, y) = batch(data, chunk, device);
                let predicted = model.forward(&x, false).argmax(1, false);
                predicted
                    .eq_tensor(&y)
                    .to_kind(Kind::Int64)
                    .sum(Kind::Int64)
                    .int64_value(&[])
            })
            .sum()
    });
    100.0 * correct as f64 / idx.len().max(1) as f64
}

/// The libtorch device a config names, checked against this machine.
pub fn device(config: &TrainConfig) -> Result<Device, String> {
    match parse_device(&config.device)? {
        None => Ok(Device::Cpu),
        Some(n) if n < tch::Cuda::device_count() as usize => Ok(Device::Cuda(n)),
        Some(n) => Err(format!(
            "device cuda:{n} is not available (libtorch sees {} CUDA devices)",
            tch::Cuda::device_count()
        )),
    }
}

/// Trains `network` (already a proxy) with libtorch under `config` (the same split, batches and
/// schedule as the burn engine for a seed). Intra-op threads are libtorch's process-wide
/// setting.
pub fn train(
    network: &Network,
    data: &FashionMnist,
    config: &TrainConfig,
    seed: u64,
) -> Result<TrainResult, String> {
    config.validate()?;
    let device = device(config)?;
    tch::set_num_threads(config.threads as i32);
    let vs = nn::VarStore::new(device);
    let model = {
        let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tch::manual_seed(seed as i64);
        TorchNet::build(network, &vs.root())?
    };
    let mut plan = Plan::new(data.train.len(), config, seed);
    let built = match config.optimizer {
        OptimizerKind::Sgd => nn::Sgd {
            momentum: config.momentum,
            dampening: 0.0,
            wd: config.weight_decay,
            nesterov: true,
        }
        .build(&vs, config.learning_rate),
        OptimizerKind::Adam => nn::Adam {
            wd: config.weight_decay,
            ..Default::default()
        }
        .build(&vs, config.learning_rate),
    };
    let mut optim = built.map_err(|e| format!("libtorch optimizer: {e}"))?;
    let start = Instant::now();
    let mut step = 0usize;
    let mut final_loss = f64::NAN;
    for _ in 0..config.epochs {
        for chunk in plan.epoch() {
            optim.set_lr(plan.learning_rate(step));
            let (x, y) = batch(&data.train, &chunk, device);
            let loss = model.forward(&x, true).cross_entropy_for_logits(&y);
            optim.backward_step(&loss);
            final_loss = loss.double_value(&[]);
            step += 1;
        }
    }
    if let Device::Cuda(n) = device {
        tch::Cuda::synchronize(n as i64);
    }
    let train_seconds = start.elapsed().as_secs_f64();
    let test_idx: Vec<usize> = (0..data.test.len()).collect();
    Ok(TrainResult {
        valid_accuracy: accuracy(&model, &data.train, &plan.valid, device),
        test_accuracy: accuracy(&model, &data.test, &test_idx, device),
        train_seconds,
        images_per_second: (plan.train.len() * config.epochs) as f64 / train_seconds.max(1e-9),
        final_loss,
    })
}

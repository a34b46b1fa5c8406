//! The libtorch engine of layernas (tch 0.26 / libtorch 2.13): the same network descriptions,
//! proxies, data split, batches, schedule and optimizers as the built-in burn trainer, on the CPU
//! or a CUDA device. `layernas search --engine torch` runs the `layernas-torch` program (this
//! crate's binary) once per trial through the command-evaluator protocol.
#![warn(missing_docs)]

use layernas_proxy::{
    batch_data, lower, parse_device, Block, ConvSpec, Dataset, FashionMnist, OptimizerKind, Plan,
    Shortcut, TrainConfig, TrainResult,
};
use layernas_spaces::network::{Act, Network, PoolKind};
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

fn conv(p: nn::Path, c: &ConvSpec) -> nn::Conv2D {
    let (cin, cout, k) = (c.cin as i64, c.cout as i64, c.kernel as i64);
    let groups = c.groups as i64;
    nn::conv2d(
        p,
        cin,
        cout,
        k,
        nn::ConvConfig {
            stride: c.stride as i64,
            padding: c.padding() as i64,
            groups,
            bias: c.bias,
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

/// A lowered convolution: optional ReLU, convolution, optional batch norm, activation.
struct ConvBn {
    conv: nn::Conv2D,
    bn: Option<nn::BatchNorm>,
    act: Act,
    pre_relu: bool,
}

impl ConvBn {
    fn new(p: &nn::Path, c: &ConvSpec) -> Self {
        ConvBn {
            conv: conv(p / "conv", c),
            bn: c.bn.then(|| bn(p / "bn", c.cout as i64)),
            act: c.act,
            pre_relu: c.pre_relu,
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let y = if self.pre_relu {
            x.relu().apply(&self.conv)
        } else {
            x.apply(&self.conv)
        };
        let y = match &self.bn {
            Some(b) => y.apply_t(b, train),
            None => y,
        };
        activate(self.act, y)
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
        let y = match &self.expand {
            Some(e) => e.forward(x, train),
            None => x.shallow_clone(),
        };
        let y = self.dw.forward(&y, train);
        let y = match &self.se {
            Some((reduce, expand)) => {
                let s = y
                    .adaptive_avg_pool2d([1, 1])
                    .apply(reduce)
                    .relu()
                    .apply(expand)
                    .hardsigmoid();
                // Out of place: `y *= s` would overwrite the depthwise activation's output,
                // which ReLU's backward reads ("modified by an inplace operation").
                y * s
            }
            None => y,
        };
        let y = self.project.forward(&y, train);
        if self.residual {
            x + y
        } else {
            y
        }
    }
}

struct Cell {
    e10: ConvBn,
    e20: ConvBn,
    e21: ConvBn,
    e30: Option<ConvBn>,
    e31: ConvBn,
    e32: ConvBn,
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
    a: ConvBn,
    b: ConvBn,
    /// Stride 2: average pool then 1x1 conv.
    short_conv: Option<nn::Conv2D>,
    short_rcb: Option<ConvBn>,
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
    /// Builds `network` with its parameters under `root`: its lowering, block by block
    /// (parameters named `<block>.<part>.conv|bn`, as the lowering names the parts).
    pub fn build(network: &Network, root: &nn::Path) -> Result<TorchNet, String> {
        let lowered = lower(network).map_err(|e| e.to_string())?;
        let layers = lowered
            .blocks
            .iter()
            .enumerate()
            .map(|(i, block)| {
                let p = root / i;
                match block {
                    Block::Conv(c) => Layer::Conv(ConvBn::new(&p, c)),
                    Block::Mbconv {
                        expand,
                        depthwise,
                        se,
                        project,
                        residual,
                    } => Layer::Mb(Mb {
                        expand: expand.as_ref().map(|c| ConvBn::new(&(&p / "expand"), c)),
                        dw: ConvBn::new(&(&p / "dw"), depthwise),
                        se: se.as_ref().map(|s| {
                            (
                                conv(&p / "se_reduce", &s.reduce),
                                conv(&p / "se_expand", &s.expand),
                            )
                        }),
                        project: ConvBn::new(&(&p / "project"), project),
                        residual: *residual,
                    }),
                    Block::Pool {
                        kind,
                        kernel,
                        stride,
                    } => Layer::Pool {
                        kind: *kind,
                        kernel: *kernel as i64,
                        stride: *stride as i64,
                    },
                    Block::GlobalPool => Layer::Global,
                    Block::BnAct { channels, act } => {
                        Layer::BnAct(bn(&p / "bn", *channels as i64), *act)
                    }
                    Block::Linear {
                        features,
                        out,
                        bias,
                        act,
                    } => Layer::Dense(
                        nn::linear(
                            &p / "linear",
                            *features as i64,
                            *out as i64,
                            nn::LinearConfig {
                                bias: *bias,
                                ws_init: torch_default_weight(),
                                bs_init: Some(torch_default_bias(*features as i64)),
                            },
                        ),
                        *act,
                    ),
                    Block::NatsCell {
                        e10,
                        e20,
                        e21,
                        e30,
                        e31,
                        e32,
                    } => Layer::Cell(Cell {
                        e10: ConvBn::new(&(&p / "e10"), e10),
                        e20: ConvBn::new(&(&p / "e20"), e20),
                        e21: ConvBn::new(&(&p / "e21"), e21),
                        e30: e30.as_ref().map(|c| ConvBn::new(&(&p / "e30"), c)),
                        e31: ConvBn::new(&(&p / "e31"), e31),
                        e32: ConvBn::new(&(&p / "e32"), e32),
                    }),
                    Block::ResBlock { a, b, shortcut } => Layer::Res(Res {
                        a: ConvBn::new(&(&p / "a"), a),
                        b: ConvBn::new(&(&p / "b"), b),
                        short_conv: match shortcut {
                            Shortcut::PoolConv(c) => Some(conv(&p / "short", c)),
                            _ => None,
                        },
                        short_rcb: match shortcut {
                            Shortcut::Conv(c) => Some(ConvBn::new(&(&p / "short"), c)),
                            _ => None,
                        },
                    }),
                }
            })
            .collect();
        Ok(TorchNet {
            layers,
            head_pool: lowered.head_pool,
        })
    }

    /// Logits `[batch, classes]` of images `[batch, channels, height, width]`.
    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let mut x = x.shallow_clone();
        for layer in &self.layers {
            x = layer.forward(&x, train);
        }
        self.head(x)
    }

    /// `[channels, height, width]` after each block, and the logits' shape, on input `x` (the
    /// engine conformance suite compares them with the lowering's).
    pub fn shapes(&self, x: &Tensor) -> (Vec<[usize; 3]>, [usize; 2]) {
        let mut x = x.shallow_clone();
        let mut shapes = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            x = layer.forward(&x, false);
            let s = x.size();
            shapes.push([s[1] as usize, s[2] as usize, s[3] as usize]);
        }
        let logits = self.head(x).size();
        (shapes, [logits[0] as usize, logits[1] as usize])
    }

    fn head(&self, mut x: Tensor) -> Tensor {
        if self.head_pool {
            x = x.adaptive_avg_pool2d([1, 1]);
        }
        let b = x.size()[0];
        x.reshape([b, -1])
    }
}

impl TorchNet {
    /// Every batch norm of the model, in layer order.
    fn batch_norms(&self) -> Vec<&nn::BatchNorm> {
        let mut out = Vec::new();
        for layer in &self.layers {
            let convs: Vec<&ConvBn> = match layer {
                Layer::Conv(c) => vec![c],
                Layer::Mb(m) => m.expand.iter().chain([&m.dw, &m.project]).collect(),
                Layer::Cell(c) => [&c.e10, &c.e20, &c.e21]
                    .into_iter()
                    .chain(c.e30.as_ref())
                    .chain([&c.e31, &c.e32])
                    .collect(),
                Layer::Res(r) => [&r.a, &r.b].into_iter().chain(r.short_rcb.as_ref()).collect(),
                Layer::BnAct(b, _) => {
                    out.push(b);
                    Vec::new()
                }
                Layer::Pool { .. } | Layer::Global | Layer::Dense(..) => Vec::new(),
            };
            out.extend(convs.into_iter().filter_map(|c| c.bn.as_ref()));
        }
        out
    }

    /// Replaces every batch norm's running statistics with the plain average of its batch
    /// statistics over `batches`, run forward in training mode (no weight changes), as the
    /// burn engine's `recalibrate_batch_norms` does.
    pub fn recalibrate_batch_norms(&self, batches: impl IntoIterator<Item = Tensor>) {
        // tch keeps a batch norm's momentum private; `bn` builds every one with the default.
        let momentum = nn::BatchNormConfig::default().momentum;
        let bns = self.batch_norms();
        tch::no_grad(|| {
            let mut sums: Vec<(Tensor, Tensor)> = bns
                .iter()
                .map(|b| (b.running_mean.zeros_like(), b.running_var.zeros_like()))
                .collect();
            let mut count = 0usize;
            for x in batches {
                // From zero, one update leaves `momentum` times the batch's statistics.
                for b in &bns {
                    let _ = b.running_mean.shallow_clone().zero_();
                    let _ = b.running_var.shallow_clone().zero_();
                }
                let _ = self.forward(&x, true);
                for (b, (mean, var)) in bns.iter().zip(&mut sums) {
                    *mean += &b.running_mean / momentum;
                    *var += &b.running_var / momentum;
                }
                count += 1;
            }
            if count > 0 {
                for (b, (mean, var)) in bns.iter().zip(&sums) {
                    b.running_mean.shallow_clone().copy_(&(mean / count as f64));
                    b.running_var.shallow_clone().copy_(&(var / count as f64));
                }
            }
        });
    }
}

impl Layer {
    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        match self {
            Layer::Conv(c) => c.forward(x, train),
            Layer::Mb(m) => m.forward(x, train),
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
            Layer::Cell(c) => c.forward(x, train),
            Layer::Res(r) => r.forward(x, train),
            Layer::Dense(l, act) => {
                let b = x.size()[0];
                let y = x.reshape([b, -1]).apply(l);
                let out = y.size()[1];
                activate(*act, y).reshape([b, out, 1, 1])
            }
        }
    }
}

fn batch(data: &Dataset, idx: &[usize], device: Device) -> (Tensor, Tensor) {
    tensors(data, batch_data(data, idx), device)
}

fn tensors(
    data: &Dataset,
    (pixels, labels): (Vec<f32>, Vec<i64>),
    device: Device,
) -> (Tensor, Tensor) {
    let n = labels.len() as i64;
    let x = Tensor::from_slice(&pixels)
        .reshape([n, data.channels as i64, data.rows as i64, data.cols as i64])
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
    let mut plan = Plan::for_data(data, config, seed);
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
            // The recipe's augmentation (random crop, flip) with the plan's draws: the same
            // augmented batches as the burn engine for a seed.
            let (x, y) = tensors(&data.train, plan.train_batch(&data.train, &chunk), device);
            let loss = model.forward(&x, true).cross_entropy_for_logits(&y);
            // `backward_step` would panic on a libtorch error; the trial fails with it instead.
            optim.zero_grad();
            loss.f_backward().map_err(|e| {
                let e = e.to_string();
                // libtorch appends its C++ stack to the message.
                let first = e.lines().next().unwrap_or_default();
                format!("libtorch backward pass failed at step {step}: {first}")
            })?;
            optim.step();
            final_loss = loss.double_value(&[]);
            step += 1;
        }
    }
    if let Device::Cuda(n) = device {
        tch::Cuda::synchronize(n as i64);
    }
    let train_seconds = start.elapsed().as_secs_f64();
    // Before the evaluation, as the burn engine's `Trainer::evaluate` does.
    let batches = plan.recalibration_batches(config.bn_recalibration);
    model.recalibrate_batch_norms(batches.iter().map(|idx| batch(&data.train, idx, device).0));
    let test_idx: Vec<usize> = (0..data.test.len()).collect();
    // As the burn engine: no test accuracy without test images or when the recipe skips them.
    let scores_test = !config.skip_test && !test_idx.is_empty();
    Ok(TrainResult {
        valid_accuracy: accuracy(&model, &data.train, &plan.valid, device),
        test_accuracy: scores_test.then(|| accuracy(&model, &data.test, &test_idx, device)),
        train_seconds,
        images_per_second: (plan.train.len() * config.epochs) as f64 / train_seconds.max(1e-9),
        final_loss,
    })
}

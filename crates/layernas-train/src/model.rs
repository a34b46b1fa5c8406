//! A burn model built from a network description.

use burn::module::{Param, RunningState};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{
    AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool2d, AvgPool2dConfig, MaxPool2d,
    MaxPool2dConfig,
};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::{hard_sigmoid, hard_swish, relu};
use layernas_proxy::{
    bn_names, conv_names, linear_names, lower, Block, BnNames, ConvNames, ConvSpec, Lowered,
    Shortcut, Weight, WeightError, Weights, BN_EPSILON,
};
use layernas_spaces::network::{Act, Network, NetworkError, PoolKind};

fn activate(act: Act, x: Tensor<4>) -> Tensor<4> {
    match act {
        Act::None => x,
        Act::Relu => relu(x),
        Act::Relu6 => relu(x).clamp_max(6.0),
        Act::Hswish => hard_swish(x),
    }
}

fn conv(c: &ConvSpec, device: &Device) -> Conv2d {
    let p = c.padding();
    Conv2dConfig::new([c.cin, c.cout], [c.kernel, c.kernel])
        .with_stride([c.stride, c.stride])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
        .with_groups(c.groups)
        .with_bias(c.bias)
        .init(device)
}

fn batch_norm(channels: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(channels)
        .with_epsilon(BN_EPSILON)
        .init(device)
}

/// A lowered convolution: optional ReLU, convolution, optional batch norm, activation.
#[derive(Module, Debug)]
pub struct ConvBn {
    conv: Conv2d,
    bn: Option<BatchNorm>,
    #[module(skip)]
    act: Act,
    #[module(skip)]
    pre_relu: bool,
}

impl ConvBn {
    fn new(c: &ConvSpec, device: &Device) -> Self {
        ConvBn {
            conv: conv(c, device),
            bn: c.bn.then(|| batch_norm(c.cout, device)),
            act: c.act,
            pre_relu: c.pre_relu,
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = if self.pre_relu { relu(x) } else { x };
        let y = self.conv.forward(x);
        let y = match &self.bn {
            Some(bn) => bn.forward(y),
            None => y,
        };
        activate(self.act, y)
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
    e10: ConvBn,
    e20: ConvBn,
    e21: ConvBn,
    e30: Option<ConvBn>,
    e31: ConvBn,
    e32: ConvBn,
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
    a: ConvBn,
    b: ConvBn,
    pool: Option<AvgPool2d>,
    short_conv: Option<Conv2d>,
    short_rcb: Option<ConvBn>,
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

impl Layer {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
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
        }
    }
}

/// A network description as a burn model.
#[derive(Module, Debug)]
pub struct Net {
    layers: Vec<Layer>,
    /// Global pooling added before the logits when the last layer leaves a spatial map.
    head_pool: Option<AdaptiveAvgPool2d>,
    #[module(skip)]
    classes: usize,
    /// The lowering (one block per layer): it names the weights.
    #[module(skip)]
    lowered: Lowered,
}

impl Net {
    /// Logits `[batch, classes]` of images `[batch, channels, height, width]`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.head(self.forward_map(x))
    }

    /// The output of the layers, without the final pooling and flattening (for timing).
    pub fn forward_map(&self, mut x: Tensor<4>) -> Tensor<4> {
        for layer in &self.layers {
            x = layer.forward(x);
        }
        x
    }

    /// `[channels, height, width]` after each layer, and the logits' shape, on input `x` (the
    /// engine conformance suite compares them with the lowering's).
    pub fn shapes(&self, mut x: Tensor<4>) -> (Vec<[usize; 3]>, [usize; 2]) {
        let mut shapes = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            x = layer.forward(x);
            let [_, c, h, w] = x.dims();
            shapes.push([c, h, w]);
        }
        let logits = self.head(x).dims();
        (shapes, logits)
    }

    fn head(&self, mut x: Tensor<4>) -> Tensor<2> {
        if let Some(p) = &self.head_pool {
            x = p.forward(x);
        }
        let [b, c, h, w] = x.dims();
        x.reshape([b, c * h * w])
    }

    /// Number of classes of the logits.
    pub fn classes(&self) -> usize {
        self.classes
    }
}

impl ConvBn {
    fn batch_norm_mut(&mut self) -> Option<&mut BatchNorm> {
        self.bn.as_mut()
    }
}

impl Net {
    /// Every batch norm of the model, in layer order.
    fn batch_norms_mut(&mut self) -> Vec<&mut BatchNorm> {
        let mut out = Vec::new();
        for layer in &mut self.layers {
            let convs: Vec<&mut ConvBn> = match layer {
                Layer::Conv(c) => vec![c],
                Layer::Mb(m) => m
                    .expand
                    .iter_mut()
                    .chain([&mut m.dw, &mut m.project])
                    .collect(),
                Layer::Cell(c) => [&mut c.e10, &mut c.e20, &mut c.e21]
                    .into_iter()
                    .chain(c.e30.as_mut())
                    .chain([&mut c.e31, &mut c.e32])
                    .collect(),
                Layer::Res(r) => [&mut r.a, &mut r.b]
                    .into_iter()
                    .chain(r.short_rcb.as_mut())
                    .collect(),
                Layer::BnAct(b) => {
                    out.push(&mut b.bn);
                    Vec::new()
                }
                Layer::Avg(_) | Layer::Max(_) | Layer::Global(_) | Layer::Dense(_) => Vec::new(),
            };
            out.extend(convs.into_iter().filter_map(ConvBn::batch_norm_mut));
        }
        out
    }

    /// Replaces every batch norm's running statistics with the plain average of its batch
    /// statistics over `batches`, run forward in training mode (the model must be on an
    /// autodiff device; no weight changes). Each batch norm keeps its momentum.
    pub fn recalibrate_batch_norms(&mut self, batches: impl IntoIterator<Item = Tensor<4>>) {
        let momenta: Vec<f64> = self.batch_norms_mut().iter().map(|b| b.momentum).collect();
        for (i, x) in batches.into_iter().enumerate() {
            // Momentum 1/(i+1) makes the running value the mean of the first i+1 batches.
            for bn in self.batch_norms_mut() {
                bn.momentum = 1.0 / (i + 1) as f64;
            }
            let _ = self.forward(x);
        }
        for (bn, momentum) in self.batch_norms_mut().into_iter().zip(momenta) {
            bn.momentum = momentum;
        }
        self.sync_running_statistics();
    }

    /// Folds the batch norms' pending running-statistics updates into the values readers see.
    /// burn keeps a training step's update per thread until something syncs it (`valid` does,
    /// reading a value does not), so without this the last step's update would be missing
    /// from [`Net::weights`].
    fn sync_running_statistics(&self) {
        let _ = burn::module::Module::valid(self);
    }
}

/// Builds the model of a (valid) network on `device`: its lowering ([`lower`]), block by block.
pub fn build(network: &Network, device: &Device) -> Result<Net, NetworkError> {
    let lowered = lower(network)?;
    let layers = lowered
        .blocks
        .iter()
        .map(|block| match block {
            Block::Conv(c) => Layer::Conv(ConvBn::new(c, device)),
            Block::Mbconv {
                expand,
                depthwise,
                se,
                project,
                residual,
            } => Layer::Mb(Mb {
                expand: expand.as_ref().map(|c| ConvBn::new(c, device)),
                dw: ConvBn::new(depthwise, device),
                se: se.as_ref().map(|s| Se {
                    pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
                    reduce: conv(&s.reduce, device),
                    expand: conv(&s.expand, device),
                }),
                project: ConvBn::new(project, device),
                residual: *residual,
            }),
            Block::Pool {
                kind,
                kernel,
                stride,
            } => {
                let (k, s) = (*kernel, *stride);
                match kind {
                    PoolKind::Avg => {
                        Layer::Avg(AvgPool2dConfig::new([k, k]).with_strides([s, s]).init())
                    }
                    PoolKind::Max => {
                        Layer::Max(MaxPool2dConfig::new([k, k]).with_strides([s, s]).init())
                    }
                }
            }
            Block::GlobalPool => Layer::Global(AdaptiveAvgPool2dConfig::new([1, 1]).init()),
            Block::BnAct { channels, act } => Layer::BnAct(BnAct {
                bn: batch_norm(*channels, device),
                act: *act,
            }),
            Block::Linear {
                features,
                out,
                bias,
                act,
            } => Layer::Dense(Dense {
                linear: LinearConfig::new(*features, *out)
                    .with_bias(*bias)
                    .init(device),
                act: *act,
            }),
            Block::NatsCell {
                e10,
                e20,
                e21,
                e30,
                e31,
                e32,
            } => Layer::Cell(Cell {
                e10: ConvBn::new(e10, device),
                e20: ConvBn::new(e20, device),
                e21: ConvBn::new(e21, device),
                e30: e30.as_ref().map(|c| ConvBn::new(c, device)),
                e31: ConvBn::new(e31, device),
                e32: ConvBn::new(e32, device),
            }),
            Block::ResBlock { a, b, shortcut } => Layer::Res(Res {
                a: ConvBn::new(a, device),
                b: ConvBn::new(b, device),
                pool: matches!(shortcut, Shortcut::PoolConv(_))
                    .then(|| AvgPool2dConfig::new([2, 2]).with_strides([2, 2]).init()),
                short_conv: match shortcut {
                    Shortcut::PoolConv(c) => Some(conv(c, device)),
                    _ => None,
                },
                short_rcb: match shortcut {
                    Shortcut::Conv(c) => Some(ConvBn::new(c, device)),
                    _ => None,
                },
            }),
        })
        .collect();
    Ok(Net {
        layers,
        head_pool: lowered
            .head_pool
            .then(|| AdaptiveAvgPool2dConfig::new([1, 1]).init()),
        classes: lowered.classes,
        lowered,
    })
}

/// A convolution of a layer, with or without its batch norm.
enum ConvMut<'a> {
    Bn(&'a mut ConvBn),
    Plain(&'a mut Conv2d),
}

impl Layer {
    /// The convolution the lowering calls `part` (see [`Block::convs`]).
    fn conv_part(&mut self, part: &str) -> Option<ConvMut<'_>> {
        match (self, part) {
            (Layer::Conv(c), "conv") => Some(ConvMut::Bn(c)),
            (Layer::Mb(m), "expand") => m.expand.as_mut().map(ConvMut::Bn),
            (Layer::Mb(m), "dw") => Some(ConvMut::Bn(&mut m.dw)),
            (Layer::Mb(m), "se_reduce") => m.se.as_mut().map(|s| ConvMut::Plain(&mut s.reduce)),
            (Layer::Mb(m), "se_expand") => m.se.as_mut().map(|s| ConvMut::Plain(&mut s.expand)),
            (Layer::Mb(m), "project") => Some(ConvMut::Bn(&mut m.project)),
            (Layer::Cell(c), "e10") => Some(ConvMut::Bn(&mut c.e10)),
            (Layer::Cell(c), "e20") => Some(ConvMut::Bn(&mut c.e20)),
            (Layer::Cell(c), "e21") => Some(ConvMut::Bn(&mut c.e21)),
            (Layer::Cell(c), "e30") => c.e30.as_mut().map(ConvMut::Bn),
            (Layer::Cell(c), "e31") => Some(ConvMut::Bn(&mut c.e31)),
            (Layer::Cell(c), "e32") => Some(ConvMut::Bn(&mut c.e32)),
            (Layer::Res(r), "a") => Some(ConvMut::Bn(&mut r.a)),
            (Layer::Res(r), "b") => Some(ConvMut::Bn(&mut r.b)),
            (Layer::Res(r), "short") => match (&mut r.short_conv, &mut r.short_rcb) {
                (Some(c), _) => Some(ConvMut::Plain(c)),
                (_, Some(c)) => Some(ConvMut::Bn(c)),
                _ => None,
            },
            _ => None,
        }
    }
}

fn read<const D: usize>(tensor: Tensor<D>) -> Weight {
    let shape = tensor.dims().to_vec();
    let data = tensor
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("float tensors convert to f32");
    Weight::new(shape, data).expect("a tensor's data fills its shape")
}

/// `values` (checked to have `param`'s shape) as the new value of `param`, keeping its id and
/// whether it takes gradients.
fn write<const D: usize>(param: Param<Tensor<D>>, values: &[f32]) -> Param<Tensor<D>> {
    param.map(|old| {
        let t =
            Tensor::<D>::from_data(TensorData::new(values.to_vec(), old.shape()), &old.device());
        if old.is_require_grad() {
            t.require_grad()
        } else {
            t
        }
    })
}

fn running<const D: usize>(
    state: &RunningState<Tensor<D>>,
    values: &[f32],
) -> RunningState<Tensor<D>> {
    let old = state.value();
    RunningState::new(Tensor::<D>::from_data(
        TensorData::new(values.to_vec(), old.shape()),
        &old.device(),
    ))
}

fn shape<const D: usize>(param: &Param<Tensor<D>>) -> Vec<usize> {
    param.val().dims().to_vec()
}

fn export_bn(bn: &BatchNorm, names: &BnNames, out: &mut Weights) {
    out.insert(&names.weight, read(bn.gamma.val()));
    out.insert(&names.bias, read(bn.beta.val()));
    out.insert(&names.running_mean, read(bn.running_mean.value()));
    out.insert(&names.running_var, read(bn.running_var.value()));
}

fn import_bn(bn: &mut BatchNorm, names: &BnNames, weights: &Weights) -> Result<(), WeightError> {
    let c = shape(&bn.gamma);
    bn.gamma = write(bn.gamma.clone(), weights.values(&names.weight, &c)?);
    bn.beta = write(bn.beta.clone(), weights.values(&names.bias, &c)?);
    bn.running_mean = running(&bn.running_mean, weights.values(&names.running_mean, &c)?);
    bn.running_var = running(&bn.running_var, weights.values(&names.running_var, &c)?);
    Ok(())
}

fn export_conv(conv: &Conv2d, names: &ConvNames, out: &mut Weights) {
    out.insert(&names.weight, read(conv.weight.val()));
    if let (Some(name), Some(b)) = (&names.bias, &conv.bias) {
        out.insert(name, read(b.val()));
    }
}

fn import_conv(conv: &mut Conv2d, names: &ConvNames, weights: &Weights) -> Result<(), WeightError> {
    let w = weights.values(&names.weight, &shape(&conv.weight))?;
    conv.weight = write(conv.weight.clone(), w);
    if let (Some(name), Some(b)) = (&names.bias, conv.bias.take()) {
        let values = weights.values(name, &shape(&b))?;
        conv.bias = Some(write(b, values));
    }
    Ok(())
}

impl Net {
    /// The weights, named as the lowering names them ([`layernas_proxy::Weights`]): every
    /// parameter and batch norm's running statistics. A fully connected layer's weight is
    /// `[out, in]` (burn keeps it `[in, out]`).
    pub fn weights(&self) -> Weights {
        self.sync_running_statistics();
        let mut net = self.clone();
        let mut out = Weights::default();
        let blocks = &self.lowered.blocks;
        for (i, (block, layer)) in blocks.iter().zip(&mut net.layers).enumerate() {
            for (part, _, names) in conv_names(i, block) {
                match layer
                    .conv_part(part)
                    .expect("every lowered part has a module")
                {
                    ConvMut::Bn(c) => {
                        export_conv(&c.conv, &names, &mut out);
                        if let (Some(bn), Some(n)) = (&c.bn, &names.bn) {
                            export_bn(bn, n, &mut out);
                        }
                    }
                    ConvMut::Plain(c) => export_conv(c, &names, &mut out),
                }
            }
            match layer {
                Layer::BnAct(b) => export_bn(&b.bn, &bn_names(i), &mut out),
                Layer::Dense(d) => {
                    let (w, b) = linear_names(i);
                    out.insert(w, read(d.linear.weight.val().transpose()));
                    if let Some(bias) = &d.linear.bias {
                        out.insert(b, read(bias.val()));
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// This model with `weights` (checked against its lowering first: names, shapes, finite
    /// values), keeping which parameters take gradients.
    pub fn with_weights(mut self, weights: &Weights) -> Result<Net, WeightError> {
        weights.check(&self.lowered)?;
        let blocks = self.lowered.blocks.clone();
        for (i, (block, layer)) in blocks.iter().zip(&mut self.layers).enumerate() {
            for (part, _, names) in conv_names(i, block) {
                match layer
                    .conv_part(part)
                    .expect("every lowered part has a module")
                {
                    ConvMut::Bn(c) => {
                        import_conv(&mut c.conv, &names, weights)?;
                        if let (Some(bn), Some(n)) = (&mut c.bn, &names.bn) {
                            import_bn(bn, n, weights)?;
                        }
                    }
                    ConvMut::Plain(c) => import_conv(c, &names, weights)?,
                }
            }
            match layer {
                Layer::BnAct(b) => import_bn(&mut b.bn, &bn_names(i), weights)?,
                Layer::Dense(d) => {
                    let (w, b) = linear_names(i);
                    let [fin, fout] = d.linear.weight.val().dims();
                    let values = weights.values(&w, &[fout, fin])?;
                    // Stored `[out, in]`; burn's is `[in, out]`.
                    let mut t = vec![0f32; values.len()];
                    for o in 0..fout {
                        for k in 0..fin {
                            t[k * fout + o] = values[o * fin + k];
                        }
                    }
                    d.linear.weight = write(d.linear.weight.clone(), &t);
                    if let Some(bias) = d.linear.bias.take() {
                        let values = weights.values(&b, &[fout])?;
                        d.linear.bias = Some(write(bias, values));
                    }
                }
                _ => {}
            }
        }
        Ok(self)
    }

    /// Writes the weights to `path` as safetensors (`model.safetensors`).
    pub fn save(&self, path: &std::path::Path) -> Result<(), WeightError> {
        self.weights().save(path)
    }
}

/// The model of `network` on `device` with the weights saved in `path` (`model.safetensors`).
pub fn load_model(
    network: &Network,
    path: &std::path::Path,
    device: &Device,
) -> Result<Net, LoadError> {
    let weights = Weights::load(path)?;
    Ok(build(network, device)?.with_weights(&weights)?)
}

/// The trainer's logits (eval mode: batch norm uses its running statistics) of `images`, a
/// batch of normalised pixels `[batch, channels, height, width]` flattened row-major, for
/// `network` with `weights`: `[batch, classes]`, row-major. What an exported model is held to.
pub fn predict(
    network: &Network,
    weights: &Weights,
    images: &[f32],
) -> Result<Vec<f32>, LoadError> {
    let device = Device::flex();
    let net = build(network, &device)?.with_weights(weights)?;
    let (c, r) = (
        network.input.channels as usize,
        network.input.resolution as usize,
    );
    let per_image = c * r * r;
    if images.is_empty() || !images.len().is_multiple_of(per_image) {
        return Err(LoadError::Images {
            len: images.len(),
            per_image,
        });
    }
    let batch = images.len() / per_image;
    let x = Tensor::<4>::from_data(TensorData::new(images.to_vec(), [batch, c, r, r]), &device);
    Ok(net
        .forward(x)
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("float tensors convert to f32"))
}

/// Why a saved model cannot be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The network description is invalid.
    #[error("the network is invalid: {0}")]
    Network(#[from] NetworkError),
    /// The weights file cannot be read or does not fit the network.
    #[error(transparent)]
    Weights(#[from] WeightError),
    /// The images are not a whole batch of the network's input.
    #[error("{len} values are not a batch of images of {per_image} values each")]
    Images {
        /// Values given.
        len: usize,
        /// Values of one image.
        per_image: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use layernas_proxy::conformance;

    /// On networks covering every op: the weights are exactly the lowering's (every name and
    /// shape, nothing extra), and as many values as burn's module holds (its count includes
    /// batch norm's running statistics), so none is left out.
    #[test]
    fn a_nets_weights_are_the_lowerings() {
        for network in conformance::networks() {
            let lowered = lower(&network).unwrap();
            let net = build(&network, &Device::flex()).unwrap();
            let weights = net.weights();
            weights.check(&lowered).unwrap();
            let values: usize = weights.iter().map(|(_, w)| w.data().len()).sum();
            assert_eq!(values, net.num_params(), "{network:?}");
        }
    }

    /// Weights put in come out unchanged, each tensor in its place (distinct values everywhere,
    /// so two tensors of one shape swapped would show).
    #[test]
    fn weights_in_are_weights_out() {
        for network in conformance::networks() {
            let net = build(&network, &Device::flex()).unwrap();
            let mut weights = net.weights();
            let names: Vec<String> = weights.iter().map(|(n, _)| n.to_string()).collect();
            for (i, name) in names.iter().enumerate() {
                for (j, v) in weights
                    .get_mut(name)
                    .unwrap()
                    .data_mut()
                    .iter_mut()
                    .enumerate()
                {
                    *v = 0.5 + (i * 1000 + j) as f32 * 1e-4;
                }
            }
            let back = net.with_weights(&weights).unwrap().weights();
            assert_eq!(back, weights, "{network:?}");
        }
    }

    #[test]
    fn load_model_reads_what_save_wrote() {
        let network = conformance::networks().swap_remove(1);
        let device = Device::flex();
        let net = build(&network, &device).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        net.save(&path).unwrap();
        let back = load_model(&network, &path, &device).unwrap();
        assert_eq!(back.weights(), net.weights());
        let other = conformance::networks().swap_remove(0);
        let err = load_model(&other, &path, &device).unwrap_err().to_string();
        assert!(err.starts_with("weight "), "{err}");
    }

    /// Random images of `network`'s input, `n` of them.
    fn images(network: &Network, n: usize, seed: u64, device: &Device) -> Tensor<4> {
        let r = network.input.resolution as usize;
        let c = network.input.channels as usize;
        let values: Vec<f32> = (0..n * c * r * r)
            .map(|i| ((i as u64 * 2_654_435_761 + seed * 97) % 1000) as f32 / 250.0 - 2.0)
            .collect();
        Tensor::from_data(TensorData::new(values, [n, c, r, r]), device)
    }

    fn running_stats(net: &mut Net) -> Vec<Vec<f32>> {
        net.sync_running_statistics();
        net.batch_norms_mut()
            .iter()
            .flat_map(|b| [b.running_mean.value(), b.running_var.value()])
            .map(|t| t.into_data().try_into_vec_as::<f32>().unwrap())
            .collect()
    }

    /// Recalibrated on one batch, every batch norm (of networks covering every op) holds that
    /// batch's statistics, so the model in evaluation mode gives the training-mode logits on
    /// it; on two batches, each statistic is the mean of the two single-batch ones; the
    /// momentum stays as it was.
    #[test]
    fn recalibration_averages_the_batch_statistics() {
        let device = Device::flex().autodiff();
        let inner = device.clone().inner();
        let mut checked = 0;
        for network in conformance::networks() {
            let (a, b) = (
                images(&network, 6, 1, &device),
                images(&network, 6, 2, &device),
            );
            // A clone shares its running statistics (burn keeps them behind an `Arc`): every
            // model is built afresh, from one seed.
            let fresh = || crate::evaluator::seeded_model(&network, &device, 5).unwrap();
            let momenta: Vec<f64> = fresh()
                .batch_norms_mut()
                .iter()
                .map(|b| b.momentum)
                .collect();
            if momenta.is_empty() {
                continue;
            }
            checked += 1;
            let mut one = fresh();
            one.recalibrate_batch_norms([a.clone()]);
            let trained = one
                .forward(a.clone())
                .into_data()
                .try_into_vec_as::<f32>()
                .unwrap();
            let evaluated = one
                .valid()
                .forward(images(&network, 6, 1, &inner))
                .into_data()
                .try_into_vec_as::<f32>()
                .unwrap();
            for (t, e) in trained.iter().zip(&evaluated) {
                assert!(
                    (t - e).abs() <= 1e-4 * (1.0 + t.abs()),
                    "{t} vs {e}: {network:?}"
                );
            }

            let mut other = fresh();
            other.recalibrate_batch_norms([b.clone()]);
            let mut both = fresh();
            both.recalibrate_batch_norms([a, b]);
            let after: Vec<f64> = both.batch_norms_mut().iter().map(|b| b.momentum).collect();
            assert_eq!(after, momenta, "the momentum is restored");
            let (one, other, both) = (
                running_stats(&mut one),
                running_stats(&mut other),
                running_stats(&mut both),
            );
            assert_ne!(one, other, "two batches, two sets of statistics");
            assert_ne!(both, running_stats(&mut fresh()), "the statistics changed");
            for ((x, y), z) in one.iter().zip(&other).zip(&both) {
                for ((x, y), z) in x.iter().zip(y).zip(z) {
                    let mean = (x + y) / 2.0;
                    assert!((mean - z).abs() <= 1e-5 * (1.0 + z.abs()), "{mean} vs {z}");
                }
            }
        }
        assert!(checked >= 3, "the suite's networks have batch norms");
    }

    /// The weights hold the batch norms' latest running statistics, the ones evaluation
    /// (`valid`) uses: burn defers each training step's update of them until something syncs.
    #[test]
    fn the_weights_hold_the_running_statistics_evaluation_uses() {
        let device = Device::flex().autodiff();
        let network = conformance::learner();
        let net = crate::evaluator::seeded_model(&network, &device, 3).unwrap();
        for seed in 0..2 {
            let _ = net.forward(images(&network, 4, seed, &device));
        }
        let saved = net.weights();
        assert_eq!(saved, net.valid().weights());
    }
}

//! Template spaces: a network template whose fields are fixed or chosen by search layers.
//! Every built-in network space (MobileNetV2/V3-based, NATS size) and every user-defined TOML
//! space is one.

use crate::network::{make_divisible, Act, Input, Network, NetworkError, Op};
use crate::reference::se_channels;
use layernas_core::{Arch, Layer, SearchSpace, SpaceError};

/// A field of a template block: fixed, or chosen by search layer `var` (value per option).
#[derive(Debug, Clone, PartialEq)]
pub enum Choice<T> {
    /// Always this value.
    Fixed(T),
    /// The value of the chosen option of search layer `var`.
    Var {
        /// Search-layer index.
        var: usize,
        /// Value of each option.
        values: Vec<T>,
    },
}

impl<T: Copy> Choice<T> {
    fn resolve(&self, arch: &Arch) -> T {
        match self {
            Choice::Fixed(v) => *v,
            Choice::Var { var, values } => values[arch.get(*var)],
        }
    }

    fn var(&self) -> Option<usize> {
        match self {
            Choice::Fixed(_) => None,
            Choice::Var { var, .. } => Some(*var),
        }
    }
}

/// One block of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A convolution (+ BN + activation); `depthwise` makes groups equal the input channels.
    Conv {
        /// Output channels.
        out: Choice<u32>,
        /// Kernel.
        kernel: Choice<u32>,
        /// Stride.
        stride: u32,
        /// Depthwise.
        depthwise: bool,
        /// Activation.
        act: Choice<Act>,
    },
    /// An MBConv block; `expand` is the ratio of expanded to input channels (rounded).
    Mbconv {
        /// Expansion ratio.
        expand: Choice<f64>,
        /// Depthwise kernel.
        kernel: Choice<u32>,
        /// Output channels.
        out: Choice<u32>,
        /// Stride.
        stride: u32,
        /// Squeeze-and-excite (squeeze = a quarter of the expanded channels, rounded to 8).
        se: Choice<bool>,
        /// Activation.
        act: Choice<Act>,
    },
    /// NATS-Bench cell.
    NatsCell {
        /// Output channels.
        out: Choice<u32>,
    },
    /// NATS-Bench ResNet block.
    ResBlock {
        /// Output channels.
        out: Choice<u32>,
        /// Stride.
        stride: u32,
    },
    /// A layer without choices (pooling, head, ...).
    Fixed(Op),
}

impl Block {
    /// Search layers this block's fields depend on.
    pub fn vars(&self) -> Vec<usize> {
        let vars = match self {
            Block::Conv {
                out, kernel, act, ..
            } => vec![out.var(), kernel.var(), act.var()],
            Block::Mbconv {
                expand,
                kernel,
                out,
                se,
                act,
                ..
            } => {
                vec![expand.var(), kernel.var(), out.var(), se.var(), act.var()]
            }
            Block::NatsCell { out } | Block::ResBlock { out, .. } => vec![out.var()],
            Block::Fixed(_) => vec![],
        };
        vars.into_iter().flatten().collect()
    }

    /// The layer this block is in `arch`, given its input channels.
    pub fn resolve(&self, arch: &Arch, cin: u32) -> Op {
        match self {
            Block::Conv {
                out,
                kernel,
                stride,
                depthwise,
                act,
            } => {
                let out = out.resolve(arch);
                Op::Conv {
                    out: if *depthwise { cin } else { out },
                    kernel: kernel.resolve(arch),
                    stride: *stride,
                    groups: if *depthwise { cin } else { 1 },
                    bias: false,
                    bn: true,
                    act: act.resolve(arch),
                }
            }
            Block::Mbconv {
                expand,
                kernel,
                out,
                stride,
                se,
                act,
            } => {
                let ratio = expand.resolve(arch);
                let expanded = ((cin as f64 * ratio).round() as u32).max(1);
                Op::Mbconv {
                    expanded,
                    out: out.resolve(arch),
                    kernel: kernel.resolve(arch),
                    stride: *stride,
                    se: se.resolve(arch).then(|| se_channels(expanded)),
                    act: act.resolve(arch),
                }
            }
            Block::NatsCell { out } => Op::NatsCell {
                out: out.resolve(arch),
            },
            Block::ResBlock { out, stride } => Op::ResBlock {
                out: out.resolve(arch),
                stride: *stride,
            },
            Block::Fixed(op) => op.clone(),
        }
    }
}

/// How architectures are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchFormat {
    /// Option names joined by `:` (NATS size space: `8:16:32:64:64`).
    Colon,
    /// `layer=option` pairs joined by `,`. Parsing starts from the backbone (or the default
    /// model) and applies the pairs given, so `block3.kernel=5` is the backbone with one change.
    Named,
}

/// A template block with the search layer that may skip it (option 0 = skip).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateBlock {
    /// The block.
    pub block: Block,
    /// Search layer whose option 0 removes the block.
    pub skip: Option<usize>,
}

/// A search space defined by a network template.
///
/// Invariant: every search layer lists its options in increasing cost (MAdds and params), so
/// the cheapest completion sets every free layer to option 0 and the most costly to the last
/// option; the default of each layer is its last option.
#[derive(Debug, Clone)]
pub struct TemplateSpace {
    name: String,
    input: Input,
    classes: u32,
    layers: Vec<Layer>,
    blocks: Vec<TemplateBlock>,
    /// For each block with a skip layer: the search layers only that block uses.
    exclusive: Vec<(usize, Vec<usize>)>,
    backbone: Option<Arch>,
    format: ArchFormat,
    description: String,
}

impl TemplateSpace {
    /// Builds and validates a template space: layer defaults are their last options, the skip
    /// layers have two options, and the default (most costly) network is valid.
    pub fn new(
        name: impl Into<String>,
        input: Input,
        classes: u32,
        layers: Vec<Layer>,
        blocks: Vec<TemplateBlock>,
        format: ArchFormat,
    ) -> Result<TemplateSpace, SpaceError> {
        let name = name.into();
        let invalid = |reason: String| SpaceError::Invalid {
            space: name.clone(),
            reason,
        };
        // Validate the layer list the way every space is validated.
        layernas_core::GenericSpace::new(name.clone(), layers.clone())?;
        let mut users: Vec<Vec<usize>> = vec![Vec::new(); layers.len()];
        for (b, tb) in blocks.iter().enumerate() {
            for v in tb.block.vars().into_iter().chain(tb.skip) {
                if v >= layers.len() {
                    return Err(invalid(format!(
                        "block {b} refers to search layer {v}, which does not exist"
                    )));
                }
                if !users[v].contains(&b) {
                    users[v].push(b);
                }
            }
            if let Some(s) = tb.skip {
                if layers[s].options.len() != 2 {
                    return Err(invalid(format!(
                        "skip layer {} must have two options",
                        layers[s].name
                    )));
                }
            }
        }
        if let Some(unused) = users.iter().position(|u| u.is_empty()) {
            return Err(invalid(format!(
                "search layer {} is used by no block",
                layers[unused].name
            )));
        }
        let exclusive = blocks
            .iter()
            .enumerate()
            .filter_map(|(b, tb)| {
                tb.skip.map(|s| {
                    let own: Vec<usize> = tb
                        .block
                        .vars()
                        .into_iter()
                        .filter(|&v| v != s && users[v] == [b])
                        .collect();
                    (s, own)
                })
            })
            .collect();
        let space = TemplateSpace {
            name: name.clone(),
            input,
            classes,
            layers,
            blocks,
            exclusive,
            backbone: None,
            format,
            description: String::new(),
        };
        // Options ascend in cost, so the default network is the most costly: if its totals fit,
        // every network's do.
        space
            .network(&space.default_arch())
            .totals()
            .map_err(|e| invalid(format!("its largest network is invalid: {e}")))?;
        Ok(space)
    }

    /// Sets the published backbone (`--arch backbone`).
    pub fn with_backbone(mut self, backbone: Arch) -> Self {
        self.backbone = Some(backbone);
        self
    }

    /// Sets the description shown by `layernas space`.
    pub fn with_description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// The template's blocks, in network order.
    pub fn blocks(&self) -> &[TemplateBlock] {
        &self.blocks
    }

    /// The network input.
    pub fn input(&self) -> Input {
        self.input
    }

    /// Number of classes.
    pub fn classes(&self) -> u32 {
        self.classes
    }

    /// The published backbone, if the space has one.
    pub fn backbone(&self) -> Option<&Arch> {
        self.backbone.as_ref()
    }

    /// What the space is, which choices form its search layers and why in that order.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The network `arch` decodes to.
    pub fn network(&self, arch: &Arch) -> Network {
        let mut layers = Vec::with_capacity(self.blocks.len());
        let mut c = self.input.channels;
        for tb in &self.blocks {
            if tb.skip.is_some_and(|s| arch.get(s) == 0) {
                continue;
            }
            let op = tb.block.resolve(arch, c);
            c = match &op {
                Op::Conv { out, .. }
                | Op::Mbconv { out, .. }
                | Op::NatsCell { out }
                | Op::ResBlock { out, .. } => *out,
                Op::Linear { out, .. } => {
                    if *out == 0 {
                        self.classes
                    } else {
                        *out
                    }
                }
                _ => c,
            };
            layers.push(op);
        }
        Network {
            input: self.input,
            layers,
            classes: self.classes,
        }
    }

    /// Parses `text`, accepting `backbone` for the published backbone.
    pub fn parse_arch(&self, text: &str) -> Result<Arch, SpaceError> {
        if text.trim() == "backbone" {
            return self.backbone.clone().ok_or_else(|| SpaceError::Parse {
                space: self.name.clone(),
                text: text.into(),
                reason: "this space has no published backbone".into(),
            });
        }
        self.parse(text)
    }

    /// Checks that the network of `arch` is valid (no stride shrinking a map below 1x1, ...).
    pub fn validate(&self, arch: &Arch) -> Result<Network, NetworkError> {
        let net = self.network(arch);
        net.layer_costs()?;
        Ok(net)
    }
}

impl SearchSpace for TemplateSpace {
    fn name(&self) -> &str {
        &self.name
    }

    fn layers(&self) -> &[Layer] {
        &self.layers
    }

    fn format(&self, arch: &Arch) -> String {
        let names = self.layers.iter().zip(arch.options());
        match self.format {
            ArchFormat::Colon => names
                .map(|(l, &o)| l.options[o as usize].clone())
                .collect::<Vec<_>>()
                .join(":"),
            ArchFormat::Named => names
                .map(|(l, &o)| format!("{}={}", l.name, l.options[o as usize]))
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    fn parse(&self, text: &str) -> Result<Arch, SpaceError> {
        let fail = |reason: String| SpaceError::Parse {
            space: self.name.clone(),
            text: text.to_string(),
            reason,
        };
        let option = |layer: &Layer, value: &str| {
            layer
                .options
                .iter()
                .position(|o| o == value)
                .ok_or_else(|| {
                    fail(format!(
                        "layer {} has no option {value:?} (allowed: {})",
                        layer.name,
                        layer.options.join(", ")
                    ))
                })
        };
        match self.format {
            ArchFormat::Colon => {
                let parts: Vec<&str> = text.trim().split(':').collect();
                if parts.len() != self.layers.len() {
                    return Err(fail(format!(
                        "expected {} values separated by ':', got {}",
                        self.layers.len(),
                        parts.len()
                    )));
                }
                let mut options = Vec::with_capacity(parts.len());
                for (layer, part) in self.layers.iter().zip(parts) {
                    options.push(option(layer, part.trim())? as u16);
                }
                Ok(Arch::new(options))
            }
            ArchFormat::Named => {
                let mut arch = self.backbone.clone().unwrap_or_else(|| self.default_arch());
                let mut named = vec![false; self.layers.len()];
                for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let (name, value) = part
                        .split_once('=')
                        .ok_or_else(|| fail(format!("{part:?} is not layer=option")))?;
                    let index = self
                        .layers
                        .iter()
                        .position(|l| l.name == name.trim())
                        .ok_or_else(|| fail(format!("no search layer named {:?}", name.trim())))?;
                    if std::mem::replace(&mut named[index], true) {
                        return Err(fail(format!(
                            "layer {} is named twice",
                            self.layers[index].name
                        )));
                    }
                    arch.set(index, option(&self.layers[index], value.trim())?);
                }
                Ok(arch)
            }
        }
    }

    fn canonical(&self, arch: &Arch) -> Arch {
        let mut out = arch.clone();
        for (skip, own) in &self.exclusive {
            if arch.get(*skip) == 0 {
                for &v in own {
                    out.set(v, self.layers[v].default);
                }
            }
        }
        out
    }

    fn num_models(&self) -> u128 {
        let mut in_skippable = vec![false; self.layers.len()];
        let mut count: u128 = 1;
        for (skip, own) in &self.exclusive {
            in_skippable[*skip] = true;
            let inner = own.iter().fold(1u128, |n, &v| {
                in_skippable[v] = true;
                n.saturating_mul(self.layers[v].options.len() as u128)
            });
            count = count.saturating_mul(inner.saturating_add(1));
        }
        for (v, layer) in self.layers.iter().enumerate() {
            if !in_skippable[v] {
                count = count.saturating_mul(layer.options.len() as u128);
            }
        }
        count
    }
}

/// Channel count `base * multiplier`, rounded to a multiple of 8.
pub fn scaled(base: u32, multiplier: f64) -> u32 {
    make_divisible(base as f64 * multiplier, 8)
}

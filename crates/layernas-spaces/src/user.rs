//! User-defined template spaces from TOML.
//!
//! ```toml
//! name = "tiny-mobilenet"
//! classes = 10
//! input = { resolution = 32, channels = 3 }
//!
//! [[layers]]
//! op = "conv"
//! out = [16, 24]          # a list makes a search layer: stem.out
//! kernel = 3
//! stride = 2
//! act = "relu"
//! name = "stem"
//!
//! [[layers]]
//! op = "mbconv"
//! out = 24
//! kernel = [3, 5]
//! expand = [3, 6]
//! se = [false, true]
//! act = ["relu", "hswish"]
//! optional = true         # adds a search layer <name>.skip
//! ```
//!
//! Ops and fields: `conv` (out, kernel, stride, act, depthwise), `mbconv` (out, kernel, expand,
//! stride, se, act, optional), `pool` (kind avg|max, kernel, stride), `global_pool`, `bn_act`
//! (act), `linear` (out, default the number of classes; bias; act), `nats_cell` (out),
//! `res_block` (out, stride). Search layers follow the network order; within a block: skip,
//! out, kernel, expand, se, act. Numeric options are sorted ascending (cost grows with each),
//! `se` is [false, true], activations keep their listed order (they cost nothing); the default
//! of a search layer is its last, most costly option.
//!
//! Limits (no network has more, and the costs of every network stay exact in 64 bits; the
//! largest network's MAdds and params are checked too): `resolution` 1 to
//! [`MAX_RESOLUTION`]; `channels`, `classes` and `out` 1 to [`MAX_CHANNELS`]; `kernel` and
//! `stride` 1 to [`MAX_KERNEL`]; `expand` above 0, at most [`MAX_EXPAND`]. Block names (`name`)
//! are non-empty, without `=`, `,`, control characters or surrounding spaces, so that every
//! architecture string parses back; a depthwise `conv` keeps its input channels and takes no
//! `out`.

use crate::network::{Act, Input, Op, PoolKind};
use crate::template::{ArchFormat, Block, Choice, TemplateBlock, TemplateSpace};
use layernas_core::{Layer, SpaceError};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    fn values(&self) -> Vec<T> {
        match self {
            OneOrMany::One(v) => vec![v.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputFile {
    resolution: i64,
    channels: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpaceFile {
    name: String,
    classes: i64,
    input: InputFile,
    layers: Vec<LayerFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayerFile {
    op: String,
    name: Option<String>,
    out: Option<OneOrMany<i64>>,
    kernel: Option<OneOrMany<i64>>,
    expand: Option<OneOrMany<f64>>,
    stride: Option<i64>,
    se: Option<OneOrMany<bool>>,
    act: Option<OneOrMany<String>>,
    depthwise: Option<bool>,
    kind: Option<String>,
    bias: Option<bool>,
    optional: Option<bool>,
}

/// The largest input resolution of a user-defined space.
pub const MAX_RESOLUTION: i64 = 16_384;
/// The most channels (input channels, `out`) or classes of a user-defined space.
pub const MAX_CHANNELS: i64 = 1_000_000;
/// The largest `kernel` or `stride` of a user-defined space.
pub const MAX_KERNEL: i64 = 1_024;
/// The largest `expand` ratio of a user-defined space.
pub const MAX_EXPAND: f64 = 100.0;

const OPS: &str = "conv, mbconv, pool, global_pool, bn_act, linear, nats_cell, res_block";

struct Build {
    space: String,
    layers: Vec<Layer>,
}

impl Build {
    fn err(&self, reason: String) -> SpaceError {
        SpaceError::Invalid {
            space: self.space.clone(),
            reason,
        }
    }

    /// A size field: positive and at most the field's limit.
    fn positive(&self, block: &str, field: &str, v: i64) -> Result<u32, SpaceError> {
        if v <= 0 {
            return Err(self.err(format!("layer {block}: {field} must be positive, got {v}")));
        }
        let max = match field {
            "resolution" => MAX_RESOLUTION,
            "kernel" | "stride" => MAX_KERNEL,
            _ => MAX_CHANNELS,
        };
        if v > max {
            return Err(self.err(format!(
                "layer {block}: {field} {v} is too large (at most {max})"
            )));
        }
        u32::try_from(v).map_err(|_| self.err(format!("layer {block}: {field} {v} is too large")))
    }

    fn var(&mut self, name: String, options: Vec<String>) -> usize {
        let default = options.len() - 1;
        self.layers.push(Layer::new(name, options, default));
        self.layers.len() - 1
    }

    fn ints(
        &mut self,
        block: &str,
        field: &str,
        v: &OneOrMany<i64>,
    ) -> Result<Choice<u32>, SpaceError> {
        let mut values = Vec::new();
        for x in v.values() {
            values.push(self.positive(block, field, x)?);
        }
        self.choice(block, field, values, |x| x.to_string(), |a, b| a.cmp(b))
    }

    fn choice<T: Copy + PartialEq>(
        &mut self,
        block: &str,
        field: &str,
        mut values: Vec<T>,
        name: impl Fn(&T) -> String,
        order: impl Fn(&T, &T) -> std::cmp::Ordering,
    ) -> Result<Choice<T>, SpaceError> {
        if values.is_empty() {
            return Err(self.err(format!("layer {block}: {field} has an empty option list")));
        }
        values.sort_by(&order);
        values.dedup();
        if values.len() == 1 {
            return Ok(Choice::Fixed(values[0]));
        }
        let var = self.var(
            format!("{block}.{field}"),
            values.iter().map(name).collect(),
        );
        Ok(Choice::Var { var, values })
    }

    fn acts(
        &mut self,
        block: &str,
        v: Option<&OneOrMany<String>>,
        default: Act,
    ) -> Result<Choice<Act>, SpaceError> {
        let Some(v) = v else {
            return Ok(Choice::Fixed(default));
        };
        let mut acts = Vec::new();
        for name in v.values() {
            acts.push(parse_act(&name).ok_or_else(|| {
                self.err(format!(
                    "layer {block}: unknown activation {name:?} (allowed: none, relu, relu6, hswish)"
                ))
            })?);
        }
        if acts.is_empty() {
            return Err(self.err(format!("layer {block}: act has an empty option list")));
        }
        let mut unique: Vec<Act> = Vec::new();
        for a in acts {
            if !unique.contains(&a) {
                unique.push(a);
            }
        }
        if unique.len() == 1 {
            return Ok(Choice::Fixed(unique[0]));
        }
        let var = self.var(
            format!("{block}.act"),
            unique.iter().map(|a| a.name().to_string()).collect(),
        );
        Ok(Choice::Var {
            var,
            values: unique,
        })
    }
}

fn parse_act(name: &str) -> Option<Act> {
    match name {
        "none" => Some(Act::None),
        "relu" => Some(Act::Relu),
        "relu6" => Some(Act::Relu6),
        "hswish" => Some(Act::Hswish),
        _ => None,
    }
}

/// The line a byte offset lies on (1-based); byte-wise, so any offset works.
fn bytecount_lines(before: &[u8]) -> usize {
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

/// Parses and validates a user-defined space.
pub fn space_from_toml(text: &str, source: &str) -> Result<TemplateSpace, SpaceError> {
    let file: SpaceFile = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| bytecount_lines(&text.as_bytes()[..s.start.min(text.len())]));
        SpaceError::Invalid {
            space: source.to_string(),
            reason: format!(
                "malformed space file{}: {}",
                line.map(|l| format!(", line {l}")).unwrap_or_default(),
                e.message().trim().replace('\n', " ")
            ),
        }
    })?;
    let mut b = Build {
        space: file.name.clone(),
        layers: Vec::new(),
    };
    if file.name.trim().is_empty() || file.name.chars().any(char::is_control) {
        return Err(SpaceError::Invalid {
            space: source.to_string(),
            reason: format!(
                "the space name {:?} must be non-empty, without control characters",
                file.name
            ),
        });
    }
    let classes = b.positive("(space)", "classes", file.classes)?;
    let input = Input {
        resolution: b.positive("(input)", "resolution", file.input.resolution)?,
        channels: b.positive("(input)", "channels", file.input.channels)?,
    };
    if file.layers.is_empty() {
        return Err(b.err("it has no layers".into()));
    }
    let mut blocks = Vec::new();
    for (i, l) in file.layers.iter().enumerate() {
        let block = l.name.clone().unwrap_or_else(|| format!("layer{}", i + 1));
        if block.is_empty()
            || block.trim() != block
            || block.contains(['=', ','])
            || block.chars().any(char::is_control)
        {
            return Err(b.err(format!(
                "layer {}: name {block:?} must be non-empty, without '=', ',', control characters \
                 or surrounding spaces (architectures are written name.field=option,...)",
                i + 1
            )));
        }
        let need = |field: &str, present: bool| {
            if present {
                Ok(())
            } else {
                Err(SpaceError::Invalid {
                    space: file.name.clone(),
                    reason: format!("layer {block} ({}): missing field {field}", l.op),
                })
            }
        };
        let stride = match l.stride {
            Some(s) => b.positive(&block, "stride", s)?,
            None => 1,
        };
        let skip = if l.optional.unwrap_or(false) {
            Some(b.var(format!("{block}.skip"), vec!["skip".into(), "keep".into()]))
        } else {
            None
        };
        let built = match l.op.as_str() {
            "conv" => {
                let depthwise = l.depthwise.unwrap_or(false);
                if depthwise && l.out.is_some() {
                    return Err(b.err(format!(
                        "layer {block}: a depthwise conv keeps its input channels; remove out"
                    )));
                }
                need("out", l.out.is_some() || depthwise)?;
                need("kernel", l.kernel.is_some())?;
                let out = match &l.out {
                    Some(o) => b.ints(&block, "out", o)?,
                    None => Choice::Fixed(1),
                };
                Block::Conv {
                    out,
                    kernel: b.ints(&block, "kernel", l.kernel.as_ref().expect("checked"))?,
                    stride,
                    depthwise,
                    act: b.acts(&block, l.act.as_ref(), Act::Relu)?,
                }
            }
            "mbconv" => {
                need("out", l.out.is_some())?;
                need("kernel", l.kernel.is_some())?;
                need("expand", l.expand.is_some())?;
                let out = b.ints(&block, "out", l.out.as_ref().expect("checked"))?;
                let kernel = b.ints(&block, "kernel", l.kernel.as_ref().expect("checked"))?;
                let ratios = l.expand.as_ref().expect("checked").values();
                if let Some(r) = ratios.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
                    return Err(b.err(format!("layer {block}: expand must be positive, got {r}")));
                }
                if let Some(r) = ratios.iter().find(|r| **r > MAX_EXPAND) {
                    return Err(b.err(format!(
                        "layer {block}: expand {r} is too large (at most {MAX_EXPAND})"
                    )));
                }
                let expand = b.choice(
                    &block,
                    "expand",
                    ratios,
                    |r| r.to_string(),
                    |x, y| x.total_cmp(y),
                )?;
                let se = match &l.se {
                    Some(v) => b.choice(
                        &block,
                        "se",
                        v.values(),
                        |s| if *s { "on".into() } else { "off".into() },
                        |x, y| x.cmp(y),
                    )?,
                    None => Choice::Fixed(false),
                };
                Block::Mbconv {
                    expand,
                    kernel,
                    out,
                    stride,
                    se,
                    act: b.acts(&block, l.act.as_ref(), Act::Relu)?,
                }
            }
            "nats_cell" => {
                need("out", l.out.is_some())?;
                Block::NatsCell {
                    out: b.ints(&block, "out", l.out.as_ref().expect("checked"))?,
                }
            }
            "res_block" => {
                need("out", l.out.is_some())?;
                Block::ResBlock {
                    out: b.ints(&block, "out", l.out.as_ref().expect("checked"))?,
                    stride,
                }
            }
            "pool" => {
                need("kernel", l.kernel.is_some())?;
                let kind = match l.kind.as_deref() {
                    Some("avg") | None => PoolKind::Avg,
                    Some("max") => PoolKind::Max,
                    Some(other) => {
                        return Err(b.err(format!(
                            "layer {block}: unknown pool kind {other:?} (allowed: avg, max)"
                        )))
                    }
                };
                let kernel = match l.kernel.as_ref().expect("checked") {
                    OneOrMany::One(k) => b.positive(&block, "kernel", *k)?,
                    OneOrMany::Many(_) => {
                        return Err(
                            b.err(format!("layer {block}: a pool kernel cannot be searched"))
                        )
                    }
                };
                Block::Fixed(Op::Pool {
                    kind,
                    kernel,
                    stride,
                })
            }
            "global_pool" => Block::Fixed(Op::GlobalPool),
            "bn_act" => Block::Fixed(Op::BnAct {
                act: match b.acts(&block, l.act.as_ref(), Act::Relu)? {
                    Choice::Fixed(a) => a,
                    Choice::Var { .. } => {
                        return Err(b.err(format!(
                            "layer {block}: bn_act's activation cannot be searched"
                        )))
                    }
                },
            }),
            "linear" => {
                let out = match &l.out {
                    None => 0,
                    Some(OneOrMany::One(o)) => b.positive(&block, "out", *o)?,
                    Some(OneOrMany::Many(_)) => {
                        return Err(b.err(format!(
                            "layer {block}: linear widths cannot be searched yet"
                        )))
                    }
                };
                Block::Fixed(Op::Linear {
                    out,
                    bias: l.bias.unwrap_or(true),
                    act: match b.acts(&block, l.act.as_ref(), Act::None)? {
                        Choice::Fixed(a) => a,
                        Choice::Var { .. } => {
                            return Err(b.err(format!(
                                "layer {block}: a linear activation cannot be searched"
                            )))
                        }
                    },
                })
            }
            other => {
                return Err(b.err(format!(
                    "layer {block}: unknown op {other:?} (allowed: {OPS})"
                )))
            }
        };
        blocks.push(TemplateBlock { block: built, skip });
    }
    if b.layers.is_empty() {
        return Err(
            b.err("no field lists more than one option, so there is nothing to search".into())
        );
    }
    TemplateSpace::new(file.name.clone(), input, classes, b.layers, blocks, ArchFormat::Named)
        .map(|s| {
            s.with_description(format!(
                "User-defined space {} from {source}: search layers follow the network order; within a block: skip, out, kernel, expand, se, act.",
                file.name
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        space_from_toml(text, "t.toml").unwrap_err().to_string()
    }

    const HEAD: &str = "name = \"t\"\nclasses = 10\ninput = { resolution = 32, channels = 3 }\n";

    #[test]
    fn bad_spaces_are_refused_with_a_reason() {
        assert!(err(&format!(
            "{HEAD}[[layers]]\nop = \"conv\"\nout = []\nkernel = 3\n"
        ))
        .contains("out has an empty option list"));
        assert!(err(&format!(
            "{HEAD}[[layers]]\nop = \"conv\"\nout = [16, -8]\nkernel = 3\n"
        ))
        .contains("out must be positive, got -8"));
        assert!(err(&format!(
            "{HEAD}[[layers]]\nop = \"conv\"\nout = [8, 16]\nkernel = 3\nstride = 64\n"
        ))
        .contains("below 1x1"));
        assert!(err(&format!("{HEAD}[[layers]]\nop = \"attention\"\n"))
            .contains("unknown op \"attention\""));
        assert!(err(&format!(
            "{HEAD}[[layers]]\nop = \"mbconv\"\nout = 8\nkernel = 3\n"
        ))
        .contains("missing field expand"));
        assert!(err(&format!(
            "{HEAD}[[layers]]\nop = \"conv\"\nout = [8, 16]\nkernal = 3\n"
        ))
        .contains("unknown field `kernal`"));
        assert!(err(&format!(
            "{HEAD}[[layers]]\nop = \"conv\"\nout = 8\nkernel = 3\n"
        ))
        .contains("nothing to search"));
    }
}

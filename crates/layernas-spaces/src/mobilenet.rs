//! MobileNetV2- and MobileNetV3-based search spaces (224x224, 1000 classes).

use crate::network::{Act, Input, Op};
use crate::reference::{conv, V3Block, V2_STAGES, V3_LARGE, V3_SMALL};
use crate::template::{scaled, ArchFormat, Block, Choice, TemplateBlock, TemplateSpace};
use layernas_core::{Arch, Layer};

/// Width multipliers each stage may take; the options are the distinct channel counts they give.
const WIDTHS: [f64; 3] = [0.75, 1.0, 1.25];
const KERNELS: [u32; 3] = [3, 5, 7];

struct Builder {
    layers: Vec<Layer>,
    blocks: Vec<TemplateBlock>,
    backbone: Vec<u16>,
}

impl Builder {
    fn new() -> Self {
        Builder {
            layers: Vec::new(),
            blocks: Vec::new(),
            backbone: Vec::new(),
        }
    }

    /// Adds a search layer whose options are `names` (ascending cost); returns its index.
    fn var(&mut self, name: String, names: Vec<String>, backbone: usize) -> usize {
        let default = names.len() - 1;
        self.layers.push(Layer::new(name, names, default));
        self.backbone.push(backbone as u16);
        self.layers.len() - 1
    }

    fn width(&mut self, stage: usize, base: u32) -> Choice<u32> {
        let mut channels: Vec<u32> = WIDTHS.iter().map(|&m| scaled(base, m)).collect();
        channels.dedup();
        let backbone = channels
            .iter()
            .position(|&c| c == base)
            .expect("1.0 is a width");
        let names = channels.iter().map(|c| c.to_string()).collect();
        let var = self.var(format!("stage{stage}.out"), names, backbone);
        Choice::Var {
            var,
            values: channels,
        }
    }

    fn kernel(&mut self, block: usize, backbone: u32) -> Choice<u32> {
        let names = KERNELS.iter().map(|k| k.to_string()).collect();
        let at = KERNELS
            .iter()
            .position(|&k| k == backbone)
            .expect("backbone kernel is an option");
        let var = self.var(format!("block{block}.kernel"), names, at);
        Choice::Var {
            var,
            values: KERNELS.to_vec(),
        }
    }

    fn expand(&mut self, block: usize, mut ratios: Vec<f64>, backbone: f64) -> Choice<f64> {
        ratios.sort_by(f64::total_cmp);
        ratios.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
        let names = ratios
            .iter()
            .map(|r| {
                let s = format!("{r:.2}");
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            })
            .collect();
        let at = ratios
            .iter()
            .position(|r| (r - backbone).abs() < 1e-9)
            .expect("backbone ratio");
        let var = self.var(format!("block{block}.expand"), names, at);
        Choice::Var {
            var,
            values: ratios,
        }
    }

    fn skip(&mut self, block: usize) -> usize {
        self.var(
            format!("block{block}.skip"),
            vec!["skip".into(), "keep".into()],
            1,
        )
    }

    fn fixed(&mut self, op: Op) {
        self.blocks.push(TemplateBlock {
            block: Block::Fixed(op),
            skip: None,
        });
    }

    fn finish(self, name: &str, description: String) -> TemplateSpace {
        let input = Input {
            resolution: 224,
            channels: 3,
        };
        TemplateSpace::new(
            name,
            input,
            1000,
            self.layers,
            self.blocks,
            ArchFormat::Named,
        )
        .expect("built-in spaces are valid")
        .with_backbone(Arch::new(self.backbone))
        .with_description(description)
    }
}

/// `mobilenetv2`: MobileNetV2-based, 224x224, 1000 classes.
pub fn mobilenet_v2_space() -> TemplateSpace {
    let mut b = Builder::new();
    b.fixed(conv(32, 3, 2, Act::Relu6));
    let mut block = 0;
    for (stage, (t, c, n, s)) in V2_STAGES.into_iter().enumerate() {
        let out = b.width(stage + 1, c);
        for i in 0..n {
            block += 1;
            let skip = (i > 0).then(|| b.skip(block));
            let kernel = b.kernel(block, 3);
            let expand = if t == 1 {
                Choice::Fixed(1.0)
            } else {
                b.expand(block, vec![3.0, 6.0], 6.0)
            };
            b.blocks.push(TemplateBlock {
                block: Block::Mbconv {
                    expand,
                    kernel,
                    out: out.clone(),
                    stride: if i == 0 { s } else { 1 },
                    se: Choice::Fixed(false),
                    act: Choice::Fixed(Act::Relu6),
                },
                skip,
            });
        }
    }
    b.fixed(conv(1280, 1, 1, Act::Relu6));
    b.fixed(Op::GlobalPool);
    b.fixed(Op::Linear {
        out: 0,
        bias: true,
        act: Act::None,
    });
    b.finish("mobilenetv2", V2_DOC.into())
}

/// `mobilenetv3-large` (`large = true`) or `mobilenetv3-small`, 224x224, 1000 classes.
pub fn mobilenet_v3_space(large: bool) -> TemplateSpace {
    let (blocks, last_conv, head, name): (&[V3Block], u32, u32, &str) = if large {
        (&V3_LARGE, 960, 1280, "mobilenetv3-large")
    } else {
        (&V3_SMALL, 576, 1024, "mobilenetv3-small")
    };
    let mut b = Builder::new();
    b.fixed(conv(16, 3, 2, Act::Hswish));
    let mut cin = 16;
    let mut stage = 0;
    let mut out = Choice::Fixed(0);
    let mut prev_out = 0;
    for (i, &(kernel, expanded, c, se, act, stride)) in blocks.iter().enumerate() {
        let block = i + 1;
        let first_of_stage = c != prev_out;
        if first_of_stage {
            stage += 1;
            out = b.width(stage, c);
            prev_out = c;
        }
        let skip = (!first_of_stage).then(|| b.skip(block));
        let kernel = b.kernel(block, kernel);
        let ratio = expanded as f64 / cin as f64;
        let expand = if expanded == cin {
            Choice::Fixed(1.0)
        } else {
            b.expand(block, vec![3.0, 6.0, ratio], ratio)
        };
        let se_var = b.var(
            format!("block{block}.se"),
            vec!["off".into(), "on".into()],
            se as usize,
        );
        let act_var = b.var(
            format!("block{block}.act"),
            vec!["relu".into(), "hswish".into()],
            (act == Act::Hswish) as usize,
        );
        b.blocks.push(TemplateBlock {
            block: Block::Mbconv {
                expand,
                kernel,
                out: out.clone(),
                stride,
                se: Choice::Var {
                    var: se_var,
                    values: vec![false, true],
                },
                act: Choice::Var {
                    var: act_var,
                    values: vec![Act::Relu, Act::Hswish],
                },
            },
            skip,
        });
        cin = c;
    }
    b.fixed(conv(last_conv, 1, 1, Act::Hswish));
    b.fixed(Op::GlobalPool);
    b.fixed(Op::Linear {
        out: head,
        bias: true,
        act: Act::Hswish,
    });
    b.fixed(Op::Linear {
        out: 0,
        bias: true,
        act: Act::None,
    });
    b.finish(
        name,
        V3_DOC.replace("{variant}", if large { "Large" } else { "Small" }),
    )
}

const V2_DOC: &str = "MobileNetV2-based space (224x224, 1000 classes; Sandler et al. 2018). Fixed: the \
stem (conv3x3 stride 2 to 32 channels), the 1x1 conv to 1280 channels, global pooling and the classifier. \
Search layers, in network order: for each of the 7 stages, `stageN.out` (output channels: the backbone's \
times 0.75, 1.0 or 1.25, rounded to a multiple of 8, duplicates removed); then for each of its blocks \
`blockK.skip` (blocks after the first of a stage may be removed: they are shape-preserving), \
`blockK.kernel` {3, 5, 7} and `blockK.expand` {3, 6} (the first block keeps expansion 1). Why this order: \
LayerNAS builds a model from its input side, so each stage's width is chosen before the blocks that run at \
that width, and a block's skip comes before its kernel and expansion, so a skipped block costs no further \
trials. Every option list is in increasing cost, the default (unsearched) option is the most costly one. \
The backbone (`--arch backbone`) is MobileNetV2 1.0: 300,774,272 MAdds, 3,504,872 params.";

const V3_DOC: &str = "MobileNetV3-{variant}-based space (224x224, 1000 classes; Howard et al. 2019). \
Fixed: the stem (conv3x3 stride 2 to 16 channels, hard-swish), the last 1x1 conv, global pooling and the \
two-layer classifier. Stages are the runs of blocks with equal output channels. Search layers, in network \
order: for each stage `stageN.out` (the backbone's channels times 0.75, 1.0 or 1.25, rounded to 8); for \
each block `blockK.skip` (blocks after the first of a stage), `blockK.kernel` {3, 5, 7}, `blockK.expand` \
(expansion ratios 3 and 6 and the backbone's own ratio; a block whose backbone has no expansion keeps \
none), `blockK.se` {off, on} (squeeze to a quarter of the expanded channels, rounded to 8) and \
`blockK.act` {relu, hswish}. The order follows the network from input to output; within a block, skip \
first (a removed block needs no further choices), then the choices in decreasing effect on cost. The \
backbone (`--arch backbone`) is the published MobileNetV3-{variant}.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::{mobilenet_v2, mobilenet_v3};
    use layernas_core::SearchSpace;

    #[test]
    fn backbones_are_points_of_their_spaces() {
        let v2 = mobilenet_v2_space();
        assert_eq!(v2.network(v2.backbone().unwrap()), mobilenet_v2(1.0));
        for large in [true, false] {
            let s = mobilenet_v3_space(large);
            assert_eq!(
                s.network(s.backbone().unwrap()),
                mobilenet_v3(large),
                "{}",
                s.name()
            );
        }
    }

    #[test]
    fn backbone_round_trips_through_its_text() {
        for s in [
            mobilenet_v2_space(),
            mobilenet_v3_space(true),
            mobilenet_v3_space(false),
        ] {
            let b = s.backbone().unwrap().clone();
            assert_eq!(s.parse(&s.format(&b)).unwrap(), b);
            assert_eq!(s.parse_arch("backbone").unwrap(), b);
            let one_change = s.parse("block2.kernel=7").unwrap();
            assert_eq!(
                one_change
                    .options()
                    .iter()
                    .zip(b.options())
                    .filter(|(x, y)| x != y)
                    .count(),
                1
            );
        }
    }
}

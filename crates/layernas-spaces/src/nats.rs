//! The NATS-Bench size search space (`nats-sss`).

use crate::network::{Act, Input, Op};
use crate::template::{ArchFormat, Block, Choice, TemplateBlock, TemplateSpace};
use layernas_core::Layer;

/// Channel options of every layer.
pub const NATS_CHANNELS: [u32; 8] = [8, 16, 24, 32, 40, 48, 56, 64];

/// `nats-sss` for an input of `resolution` (32 for CIFAR, 16 for ImageNet16-120) and `classes`.
pub fn nats_sss_space(resolution: u32, classes: u32) -> TemplateSpace {
    let names: Vec<String> = NATS_CHANNELS.iter().map(|c| c.to_string()).collect();
    let layers = (0..5)
        .map(|i| Layer::new(format!("c{i}"), names.clone(), NATS_CHANNELS.len() - 1))
        .collect();
    let ch = |var: usize| Choice::Var {
        var,
        values: NATS_CHANNELS.to_vec(),
    };
    let fixed = |op: Op| TemplateBlock {
        block: Block::Fixed(op),
        skip: None,
    };
    let block = |block: Block| TemplateBlock { block, skip: None };
    let blocks = vec![
        block(Block::Conv {
            out: ch(0),
            kernel: Choice::Fixed(3),
            stride: 1,
            depthwise: false,
            act: Choice::Fixed(Act::None),
        }),
        block(Block::NatsCell { out: ch(0) }),
        block(Block::ResBlock {
            out: ch(1),
            stride: 2,
        }),
        block(Block::NatsCell { out: ch(2) }),
        block(Block::ResBlock {
            out: ch(3),
            stride: 2,
        }),
        block(Block::NatsCell { out: ch(4) }),
        fixed(Op::BnAct { act: Act::Relu }),
        fixed(Op::GlobalPool),
        fixed(Op::Linear {
            out: 0,
            bias: true,
            act: Act::None,
        }),
    ];
    let input = Input {
        resolution,
        channels: 3,
    };
    TemplateSpace::new(
        "nats-sss",
        input,
        classes,
        layers,
        blocks,
        ArchFormat::Colon,
    )
    .expect("the NATS size space is valid")
    .with_description(NATS_DOC)
}

const NATS_DOC: &str = "NATS-Bench size search space (Dong et al. 2021): 5 layers, each a channel count in \
{8, 16, ..., 64}, written c0:c1:c2:c3:c4 (32,768 models). Skeleton: conv3x3 3->c0 + BN; cell(c0->c0); ResNet \
block stride 2 (c0->c1); cell(c1->c2); ResNet block stride 2 (c2->c3); cell(c3->c4); BN, ReLU, global \
average pool, linear. The cell is fixed to the size space's topology. Search layers follow the network from \
input to output (c0 first), as LayerNAS builds models from the input side; the default is 64 everywhere. \
Accuracy tables for this space are not available here; its costs are computed.";

#[cfg(test)]
mod tests {
    use super::*;
    use layernas_core::SearchSpace;

    #[test]
    fn params_match_the_published_figures_exactly() {
        let s = nats_sss_space(32, 10);
        for (arch, params) in [
            ("8:8:8:8:8", 11_714),
            ("8:8:16:40:40", 107_826),
            ("64:64:64:64:64", 713_674),
        ] {
            let net = s.network(&s.parse(arch).unwrap());
            assert_eq!(net.totals().unwrap().params, params, "{arch}");
        }
        assert_eq!(s.num_models(), 32_768);
    }
}

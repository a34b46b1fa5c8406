//! The published backbones as [`Network`]s, following torchvision's reference implementations.

use crate::network::{make_divisible, Act, Input, Network, Op};

/// MobileNetV2 stages: (expansion t, output channels c, blocks n, first stride s).
pub(crate) const V2_STAGES: [(u32, u32, u32, u32); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

/// One MobileNetV3 block: (kernel, expanded, out, squeeze-and-excite, activation, stride).
pub(crate) type V3Block = (u32, u32, u32, bool, Act, u32);

/// MobileNetV3-Large blocks.
pub(crate) const V3_LARGE: [V3Block; 15] = [
    (3, 16, 16, false, Act::Relu, 1),
    (3, 64, 24, false, Act::Relu, 2),
    (3, 72, 24, false, Act::Relu, 1),
    (5, 72, 40, true, Act::Relu, 2),
    (5, 120, 40, true, Act::Relu, 1),
    (5, 120, 40, true, Act::Relu, 1),
    (3, 240, 80, false, Act::Hswish, 2),
    (3, 200, 80, false, Act::Hswish, 1),
    (3, 184, 80, false, Act::Hswish, 1),
    (3, 184, 80, false, Act::Hswish, 1),
    (3, 480, 112, true, Act::Hswish, 1),
    (3, 672, 112, true, Act::Hswish, 1),
    (5, 672, 160, true, Act::Hswish, 2),
    (5, 960, 160, true, Act::Hswish, 1),
    (5, 960, 160, true, Act::Hswish, 1),
];

/// MobileNetV3-Small blocks.
pub(crate) const V3_SMALL: [V3Block; 11] = [
    (3, 16, 16, true, Act::Relu, 2),
    (3, 72, 24, false, Act::Relu, 2),
    (3, 88, 24, false, Act::Relu, 1),
    (5, 96, 40, true, Act::Hswish, 2),
    (5, 240, 40, true, Act::Hswish, 1),
    (5, 240, 40, true, Act::Hswish, 1),
    (5, 120, 48, true, Act::Hswish, 1),
    (5, 144, 48, true, Act::Hswish, 1),
    (5, 288, 96, true, Act::Hswish, 2),
    (5, 576, 96, true, Act::Hswish, 1),
    (5, 576, 96, true, Act::Hswish, 1),
];

/// Squeeze channels of MobileNetV3's squeeze-and-excite: a quarter of the expanded channels,
/// rounded to a multiple of 8.
pub(crate) fn se_channels(expanded: u32) -> u32 {
    make_divisible((expanded / 4) as f64, 8)
}

pub(crate) fn conv(out: u32, kernel: u32, stride: u32, act: Act) -> Op {
    Op::Conv {
        out,
        kernel,
        stride,
        groups: 1,
        bias: false,
        bn: true,
        act,
    }
}

/// A network on 224x224 RGB ImageNet inputs with 1000 classes.
fn imagenet(layers: Vec<Op>) -> Network {
    Network {
        input: Input {
            resolution: 224,
            channels: 3,
        },
        layers,
        classes: 1000,
    }
}

/// MobileNetV2 with a width multiplier (torchvision's `mobilenet_v2(width_mult=...)`).
pub fn mobilenet_v2(width: f64) -> Network {
    let mut layers = vec![conv(make_divisible(32.0 * width, 8), 3, 2, Act::Relu6)];
    let mut cin = make_divisible(32.0 * width, 8);
    for (t, c, n, s) in V2_STAGES {
        let out = make_divisible(c as f64 * width, 8);
        for i in 0..n {
            layers.push(Op::Mbconv {
                expanded: cin * t,
                out,
                kernel: 3,
                stride: if i == 0 { s } else { 1 },
                se: None,
                act: Act::Relu6,
            });
            cin = out;
        }
    }
    layers.push(conv(
        make_divisible(1280.0 * width.max(1.0), 8),
        1,
        1,
        Act::Relu6,
    ));
    layers.push(Op::GlobalPool);
    layers.push(Op::Linear {
        out: 0,
        bias: true,
        act: Act::None,
    });
    imagenet(layers)
}

/// MobileNetV3-Large (`large = true`) or -Small, width 1.0, as torchvision builds them.
pub fn mobilenet_v3(large: bool) -> Network {
    let (blocks, last_conv, head): (&[V3Block], u32, u32) = if large {
        (&V3_LARGE, 960, 1280)
    } else {
        (&V3_SMALL, 576, 1024)
    };
    let mut layers = vec![conv(16, 3, 2, Act::Hswish)];
    for &(kernel, expanded, out, se, act, stride) in blocks {
        layers.push(Op::Mbconv {
            expanded,
            out,
            kernel,
            stride,
            se: se.then(|| se_channels(expanded)),
            act,
        });
    }
    layers.push(conv(last_conv, 1, 1, Act::Hswish));
    layers.push(Op::GlobalPool);
    layers.push(Op::Linear {
        out: head,
        bias: true,
        act: Act::Hswish,
    });
    layers.push(Op::Linear {
        out: 0,
        bias: true,
        act: Act::None,
    });
    imagenet(layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torchvision_figures_are_reproduced_exactly() {
        let v2 = mobilenet_v2(1.0).totals().unwrap();
        assert_eq!((v2.madds, v2.params), (300_774_272, 3_504_872));
        let v3 = mobilenet_v3(true).totals().unwrap();
        assert_eq!((v3.madds, v3.params), (216_589_760, 5_483_032));
    }

    #[test]
    fn other_published_backbones_print() {
        for (name, net) in [
            ("v3-small", mobilenet_v3(false)),
            ("v2-1.4", mobilenet_v2(1.4)),
        ] {
            let t = net.totals().unwrap();
            eprintln!("{name}: {} MAdds, {} params", t.madds, t.params);
        }
    }
}

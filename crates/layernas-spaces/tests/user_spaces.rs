//! User-defined spaces and architecture strings against hostile input: values no network can
//! have are refused when the space is read, costs never overflow silently, nothing panics, and
//! every architecture string a space prints parses back to the same architecture.

use layernas_core::{Arch, CostModel, SearchSpace};
use layernas_spaces::network::{Act, Input, Network, NetworkError, Op};
use layernas_spaces::{
    mobilenet_v3_space, nats_sss_space, space_from_toml, Metric, Nb201Space, NetworkCost,
    TemplateSpace,
};
use proptest::prelude::*;
use std::sync::Arc;

const HEAD: &str = "name = \"t\"\nclasses = 10\ninput = { resolution = 32, channels = 3 }\n";

fn err(body: &str) -> String {
    match space_from_toml(&format!("{HEAD}{body}"), "t.toml") {
        Ok(_) => panic!("accepted:\n{body}"),
        Err(e) => e.to_string(),
    }
}

fn tiny() -> TemplateSpace {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/spaces/tiny-mobilenet.toml"),
    )
    .unwrap();
    space_from_toml(&text, "tiny-mobilenet.toml").unwrap()
}

#[test]
fn sizes_no_network_can_have_are_refused_when_the_space_is_read() {
    let e = err("[[layers]]\nop = \"conv\"\nout = [8, 4294967295]\nkernel = 3\n");
    assert!(
        e.contains("out 4294967295 is too large (at most 1000000)"),
        "{e}"
    );
    let e = err("[[layers]]\nop = \"conv\"\nout = 8\nkernel = [3, 4294967295]\n");
    assert!(
        e.contains("kernel 4294967295 is too large (at most 1024)"),
        "{e}"
    );
    let e = err("[[layers]]\nop = \"mbconv\"\nout = 8\nkernel = 3\nexpand = [1, 1e9]\n");
    assert!(e.contains("expand 1000000000 is too large"), "{e}");
    let e = space_from_toml(
        "name = \"t\"\nclasses = 10\ninput = { resolution = 100000, channels = 3 }\n[[layers]]\nop = \"conv\"\nout = [8, 16]\nkernel = 3\n",
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("resolution 100000 is too large"), "{e}");
}

#[test]
fn a_largest_network_beyond_64_bit_costs_is_refused() {
    // Every size within its limit, but the MAdds of the widest network exceed 2^64.
    let text =
        "name = \"huge\"\nclasses = 10\ninput = { resolution = 16384, channels = 1000000 }\n\
                [[layers]]\nop = \"conv\"\nout = [999999, 1000000]\nkernel = 1024\n";
    let e = space_from_toml(text, "huge.toml").unwrap_err().to_string();
    assert!(e.contains("more than 2^64 MAdds or params"), "{e}");
}

#[test]
fn network_costs_use_checked_arithmetic() {
    let big = Network {
        input: Input {
            resolution: u32::MAX,
            channels: u32::MAX,
        },
        layers: vec![Op::Conv {
            out: u32::MAX,
            kernel: u32::MAX,
            stride: 1,
            groups: 1,
            bias: true,
            bn: true,
            act: Act::Relu,
        }],
        classes: 10,
    };
    assert!(matches!(
        big.layer_costs(),
        Err(NetworkError::TooLarge { layer: 0, .. })
    ));
    // Each layer fits, their sum does not.
    let wide = Network {
        input: Input {
            resolution: 1,
            channels: 1 << 31,
        },
        layers: vec![
            Op::Linear {
                out: 1 << 31,
                bias: false,
                act: Act::None,
            };
            8
        ],
        classes: 10,
    };
    assert!(wide.layer_costs().is_ok());
    assert!(matches!(
        wide.totals(),
        Err(NetworkError::TooLarge { layer: 8, .. })
    ));
}

#[test]
fn names_that_break_architecture_strings_are_refused() {
    for name in ["a=b", "a,b", "", " stem", "x\n"] {
        let e = err(&format!(
            "[[layers]]\nname = {name:?}\nop = \"conv\"\nout = [8, 16]\nkernel = 3\n"
        ));
        assert!(
            e.contains("must be non-empty, without '='"),
            "{name:?}: {e}"
        );
    }
}

#[test]
fn a_depthwise_conv_takes_no_out() {
    let e = err("[[layers]]\nop = \"conv\"\nout = [8, 16]\nkernel = 3\n[[layers]]\nop = \"conv\"\ndepthwise = true\nout = [8, 16]\nkernel = [3, 5]\n");
    assert!(
        e.contains("a depthwise conv keeps its input channels; remove out"),
        "{e}"
    );
    // Without out it is fine.
    space_from_toml(
        &format!("{HEAD}[[layers]]\nop = \"conv\"\nout = [8, 16]\nkernel = 3\n[[layers]]\nop = \"conv\"\ndepthwise = true\nkernel = [3, 5]\n"),
        "t.toml",
    )
    .unwrap();
}

#[test]
fn an_architecture_naming_a_layer_twice_is_refused() {
    let space = tiny();
    let e = space
        .parse("b1.kernel=3,b1.kernel=5")
        .unwrap_err()
        .to_string();
    assert!(e.contains("layer b1.kernel is named twice"), "{e}");
    space.parse("b1.kernel=3,b1.out=16").unwrap();
}

/// A random user space as TOML: a few blocks of every searchable op, random option lists and
/// names (sometimes with characters that would break architecture strings).
fn space_text() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        3 => Just(None),
        3 => "[a-z][a-z0-9_]{0,5}".prop_map(Some),
        1 => "[a-z=, .\\-]{0,5}".prop_map(Some),
    ];
    let ints = |lo: i64, hi: i64| prop::collection::vec(lo..hi, 1..4);
    let block = (
        0usize..4,
        name,
        ints(1, 48),
        prop::collection::vec(prop::sample::select(vec![1i64, 3, 5, 7]), 1..3),
        prop::collection::vec(0.25f64..8.0, 1..3),
        prop::collection::vec(any::<bool>(), 1..3),
        prop::collection::vec(prop::sample::select(vec!["relu", "hswish", "none"]), 1..3),
        any::<bool>(),
        prop::sample::select(vec![1i64, 2]),
    );
    prop::collection::vec(block, 1..5).prop_map(|blocks| {
        let mut text = String::from(
            "name = \"p\"\nclasses = 10\ninput = { resolution = 32, channels = 3 }\n",
        );
        let list = |v: &[String]| format!("[{}]", v.join(", "));
        for (op, name, outs, kernels, expand, se, act, optional, stride) in blocks {
            text.push_str("[[layers]]\n");
            if let Some(n) = name {
                text.push_str(&format!("name = {n:?}\n"));
            }
            let outs: Vec<String> = outs.iter().map(|o| o.to_string()).collect();
            let kernels: Vec<String> = kernels.iter().map(|k| k.to_string()).collect();
            let acts: Vec<String> = act.iter().map(|a| format!("{a:?}")).collect();
            match op {
                0 => text.push_str(&format!(
                    "op = \"conv\"\nout = {}\nkernel = {}\nstride = {stride}\nact = {}\n",
                    list(&outs),
                    list(&kernels),
                    list(&acts)
                )),
                1 => text.push_str(&format!(
                    "op = \"mbconv\"\nout = {}\nkernel = {}\nexpand = {}\nse = {}\nact = {}\nstride = {stride}\noptional = {optional}\n",
                    list(&outs),
                    list(&kernels),
                    list(&expand.iter().map(|e| format!("{e:?}")).collect::<Vec<_>>()),
                    list(&se.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
                    list(&acts)
                )),
                2 => text.push_str(&format!(
                    "op = \"res_block\"\nout = {}\nstride = {stride}\n",
                    list(&outs)
                )),
                _ => text.push_str(&format!("op = \"nats_cell\"\nout = {}\n", list(&outs))),
            }
        }
        text
    })
}

fn arch_of(space: &dyn SearchSpace, seed: &[u16]) -> Arch {
    Arch::new(
        space
            .layers()
            .iter()
            .enumerate()
            .map(|(i, l)| seed[i % seed.len()] % l.options.len() as u16)
            .collect(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every architecture of every user space prints as a string that parses back to it, and
    /// costs stay finite.
    #[test]
    fn user_space_architectures_round_trip(text in space_text(), seed in prop::collection::vec(any::<u16>(), 1..40)) {
        if let Ok(space) = space_from_toml(&text, "p.toml") {
            let arch = arch_of(&space, &seed);
            let printed = space.format(&arch);
            prop_assert_eq!(space.parse(&printed).unwrap(), arch.clone(), "{}", printed);
            let space = Arc::new(space);
            for metric in [Metric::Madds, Metric::Params] {
                let c = NetworkCost::new(space.clone(), metric).cost(&arch);
                prop_assert!(c.is_finite() && c >= 0.0);
            }
        }
    }

    /// The space-file parser refuses garbage with an error, never a panic.
    #[test]
    fn the_space_file_parser_never_panics(text in "\\PC{0,400}") {
        let _ = space_from_toml(&text, "x.toml");
    }

    /// So does it on near-valid files with extreme numbers.
    #[test]
    fn extreme_numbers_in_space_files_never_panic(
        values in prop::collection::vec(prop_oneof![Just(i64::MAX), Just(i64::MIN), Just(0i64), Just(u32::MAX as i64), Just(1_000_000i64), 1i64..100], 6),
        op in prop::sample::select(vec!["conv", "mbconv", "res_block", "nats_cell", "pool", "linear"]),
        expand in prop_oneof![Just(1e300f64), Just(1e-300f64), Just(100.0f64), 0.1f64..10.0],
    ) {
        let text = format!(
            "name = \"x\"\nclasses = {}\ninput = {{ resolution = {}, channels = {} }}\n[[layers]]\nop = \"conv\"\nout = [4, 8]\nkernel = 3\n[[layers]]\nop = \"{op}\"\nout = [{}, 8]\nkernel = {}\nstride = {}\nexpand = [1.0, {expand:?}]\n",
            values[0], values[1], values[2], values[3], values[4], values[5].clamp(1, 4),
        );
        if let Ok(space) = space_from_toml(&text, "x.toml") {
            let space = Arc::new(space);
            let all = vec![true; space.layers().len()];
            for metric in [Metric::Madds, Metric::Params] {
                let r = NetworkCost::new(space.clone(), metric).range(&*space, &space.default_arch(), &all);
                prop_assert!(r.min.is_finite() && r.max.is_finite() && r.min <= r.max);
            }
        }
    }

    /// Architecture strings of every kind of space: an error or an architecture of the space,
    /// never a panic; what parses prints back to something that parses to the same.
    #[test]
    fn architecture_parsing_never_panics(text in prop_oneof![
        "\\PC{0,80}",
        "[|+~a-z_0-9]{0,80}",
        "[a-z0-9.=,: ]{0,80}",
    ]) {
        let spaces: Vec<Box<dyn SearchSpace>> = vec![
            Box::new(Nb201Space::new()),
            Box::new(tiny()),
            Box::new(mobilenet_v3_space(true)),
            Box::new(nats_sss_space(32, 10)),
        ];
        for space in &spaces {
            if let Ok(arch) = space.parse(&text) {
                prop_assert!(space.check(&arch).is_ok());
                prop_assert_eq!(space.parse(&space.format(&arch)).unwrap(), arch);
            }
        }
    }
}

//! The network cost models: options ascend in cost whatever the other choices (the invariant
//! the cheap cost range relies on), the range equals brute force where brute force is possible,
//! and canonical architectures build the same network.

use layernas_core::{Arch, CostModel, SearchSpace};
use layernas_spaces::{
    mobilenet_v2_space, mobilenet_v3_space, nats_sss_space, Metric, NetworkCost, TemplateSpace,
};
use proptest::prelude::*;
use std::sync::Arc;

fn spaces() -> Vec<Arc<TemplateSpace>> {
    vec![
        Arc::new(mobilenet_v2_space()),
        Arc::new(mobilenet_v3_space(true)),
        Arc::new(mobilenet_v3_space(false)),
        Arc::new(nats_sss_space(32, 10)),
        Arc::new(nats_sss_space(16, 120)),
    ]
}

fn random_arch(space: &TemplateSpace, seed: &[u16]) -> Arch {
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
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_option_list_ascends_in_cost(seed in prop::collection::vec(any::<u16>(), 1..100), which in 0usize..5) {
        let space = spaces()[which].clone();
        let arch = random_arch(&space, &seed);
        for metric in [Metric::Madds, Metric::Params] {
            let cost = NetworkCost::new(space.clone(), metric);
            for (l, layer) in space.layers().iter().enumerate() {
                let costs: Vec<f64> = (0..layer.options.len()).map(|o| cost.cost(&arch.with(l, o))).collect();
                prop_assert!(costs.windows(2).all(|w| w[0] <= w[1]), "{} {}: {:?}", space.name(), layer.name, costs);
            }
        }
    }

    #[test]
    fn canonical_architectures_build_the_same_network(seed in prop::collection::vec(any::<u16>(), 1..100), which in 0usize..3) {
        let space = spaces()[which].clone();
        let arch = random_arch(&space, &seed);
        prop_assert_eq!(space.network(&space.canonical(&arch)), space.network(&arch));
    }
}

#[test]
fn nats_range_equals_brute_force() {
    let space = Arc::new(nats_sss_space(32, 10));
    let cost = NetworkCost::new(space.clone(), Metric::Madds);
    let arch = space.parse("24:40:8:64:16").unwrap();
    for fixed in 0..5 {
        let free: Vec<bool> = (0..5).map(|i| i >= fixed).collect();
        let fast = cost.range(&*space, &arch, &free);
        // Brute force over the free layers.
        let mut lo = f64::MAX;
        let mut hi = f64::MIN;
        for code in 0..8usize.pow((5 - fixed) as u32) {
            let mut a = arch.clone();
            let mut c = code;
            for l in fixed..5 {
                a.set(l, c % 8);
                c /= 8;
            }
            let v = cost.cost(&a);
            lo = lo.min(v);
            hi = hi.max(v);
        }
        assert_eq!((fast.min, fast.max), (lo, hi), "fixed {fixed}");
    }
}

#[test]
fn distinct_network_counts_discount_skipped_blocks() {
    let v2 = mobilenet_v2_space();
    let vectors: u128 = v2
        .layers()
        .iter()
        .map(|l| l.options.len() as u128)
        .product();
    assert!(v2.num_models() < vectors);
    assert_eq!(nats_sss_space(32, 10).num_models(), 32_768);
}

#[test]
fn the_worked_example_space_loads_and_prices() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/spaces/tiny-mobilenet.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let space = Arc::new(layernas_spaces::space_from_toml(&text, path).unwrap());
    assert_eq!(space.name(), "tiny-mobilenet");
    let names: Vec<&str> = space.layers().iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names[..3], ["stem.out", "b1.out", "b1.kernel"]);
    assert!(names.contains(&"b3.skip"));
    // Defaults are the most costly options; the default model is the costliest of all.
    let cost = NetworkCost::new(space.clone(), Metric::Madds);
    let all = cost.range(
        &*space,
        &space.default_arch(),
        &vec![true; space.layers().len()],
    );
    assert_eq!(all.max, cost.cost(&space.default_arch()));
    assert!(all.min < all.max);
    // b3 (optional, stride 1, 32/40 -> 32/40) is skippable: skipping lowers the cost.
    let skip = space
        .layers()
        .iter()
        .position(|l| l.name == "b3.skip")
        .unwrap();
    assert!(cost.cost(&space.default_arch().with(skip, 0)) < all.max);
}

//! Costs per second: how fast the network cost models price architectures (LayerNAS prices
//! many children and completions per layer). Run with `cargo bench -p layernas-spaces`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use layernas_core::{Arch, CostModel, SearchSpace};
use layernas_spaces::{mobilenet_v3_space, nats_sss_space, Metric, NetworkCost};
use std::hint::black_box;
use std::sync::Arc;

fn archs(space: &dyn SearchSpace, n: usize) -> Vec<Arch> {
    // A fixed pseudo-random sample (SplitMix64) so runs compare like with like.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            Arch::new(
                space
                    .layers()
                    .iter()
                    .map(|l| {
                        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                        let mut z = state;
                        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                        ((z ^ (z >> 31)) % l.options.len() as u64) as u16
                    })
                    .collect(),
            )
        })
        .collect()
}

fn costs_per_second(c: &mut Criterion) {
    let mut group = c.benchmark_group("cost");
    for (name, space) in [
        ("mobilenetv3-large", Arc::new(mobilenet_v3_space(true))),
        ("mobilenetv3-small", Arc::new(mobilenet_v3_space(false))),
        ("nats-sss", Arc::new(nats_sss_space(32, 10))),
    ] {
        let sample = archs(&*space, 1000);
        let madds = NetworkCost::new(space.clone(), Metric::Madds);
        group.throughput(Throughput::Elements(sample.len() as u64));
        group.bench_function(format!("{name}/madds"), |b| {
            b.iter(|| sample.iter().map(|a| madds.cost(black_box(a))).sum::<f64>())
        });
        let free: Vec<bool> = (0..space.layers().len())
            .map(|i| i >= space.layers().len() / 2)
            .collect();
        group.bench_function(format!("{name}/completion-range"), |b| {
            b.iter(|| {
                sample
                    .iter()
                    .map(|a| madds.range(&*space, black_box(a), &free).min)
                    .sum::<f64>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, costs_per_second);
criterion_main!(benches);

//! Measured latency: time every distinct layer configuration of a template space with the
//! built-in engine (forward pass, batch 1, warm-up, median of repeats) into a
//! [`LatencyTable`]. The table's cost model (`TableLatency`) and its rank check (`spearman`)
//! are pure and live in `layernas-spaces`.

use crate::model::build;
use burn::prelude::*;
use layernas_core::SearchSpace;
use layernas_spaces::network::{Input, Network};
use layernas_spaces::{distinct_layers, layer_key, LatencyTable, TemplateSpace};
use std::collections::BTreeMap;
use std::time::Instant;

fn median_ms(mut f: impl FnMut(), warmup: usize, repeats: usize) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Forward-pass latency (ms, batch 1, median, one thread) of a whole network on this machine.
pub fn network_latency(network: &Network, warmup: usize, repeats: usize) -> f64 {
    // The backend parallelises over rayon's current pool: a pool of one thread keeps the
    // measurement single-threaded, as the table says.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("cannot start the profiling thread");
    pool.install(|| network_latency_here(network, warmup, repeats))
}

fn network_latency_here(network: &Network, warmup: usize, repeats: usize) -> f64 {
    let device = Device::flex();
    device.seed(0);
    let model = build(network, &device).expect("a valid network");
    let r = network.input.resolution as usize;
    let x = Tensor::<4>::zeros([1, network.input.channels as usize, r, r], &device);
    median_ms(
        || {
            let y = model.forward_map(x.clone());
            let _ = y.into_data();
        },
        warmup,
        repeats,
    )
}

/// Times every distinct layer of `space`; `progress(done, total)` after each.
pub fn profile(
    space: &TemplateSpace,
    warmup: usize,
    repeats: usize,
    mut progress: impl FnMut(usize, usize),
) -> LatencyTable {
    let configs = distinct_layers(space);
    let mut entries = BTreeMap::new();
    for (i, (op, c, r)) in configs.iter().enumerate() {
        let single = Network {
            input: Input {
                resolution: *r,
                channels: *c,
            },
            layers: vec![op.clone()],
            classes: space.classes(),
        };
        entries.insert(
            layer_key(op, *c, *r),
            network_latency(&single, warmup, repeats),
        );
        progress(i + 1, configs.len());
    }
    LatencyTable {
        space: space.name().to_string(),
        engine: "burn 0.22.1 Flex CPU, batch 1, single thread".into(),
        warmup,
        repeats,
        entries,
    }
}

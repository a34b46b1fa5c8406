//! Measured latency: time every distinct layer configuration of a template space with the
//! built-in engine (forward pass, batch 1, warm-up, median of repeats) and price an
//! architecture as the sum of its layers' entries.

use crate::model::build;
use burn::prelude::*;
use layernas_core::{Arch, CostModel, SearchSpace};
use layernas_spaces::network::{Input, Network, Op};
use layernas_spaces::TemplateSpace;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

/// A latency lookup table: milliseconds per layer configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyTable {
    /// Space the table was measured for.
    pub space: String,
    /// What measured it.
    pub engine: String,
    /// Warm-up runs per entry.
    pub warmup: usize,
    /// Timed runs per entry (the median is kept).
    pub repeats: usize,
    /// Milliseconds by [`layer_key`].
    pub entries: BTreeMap<String, f64>,
}

/// The key of a layer configuration: its op (JSON) and its input shape.
pub fn layer_key(op: &Op, in_channels: u32, resolution: u32) -> String {
    format!(
        "{}@{resolution}x{resolution}x{in_channels}",
        serde_json::to_string(op).expect("an op serializes")
    )
}

/// Every layer configuration (op, input channels, input resolution) that any architecture of
/// the space can contain. Shared choices (a stage width) are taken independently per block, so
/// this is a superset of what occurs, never less.
pub fn distinct_layers(space: &TemplateSpace) -> Vec<(Op, u32, u32)> {
    let input = space.input();
    let mut states: BTreeSet<(u32, u32)> =
        [(input.channels, input.resolution)].into_iter().collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let layers = space.layers();
    for tb in space.blocks() {
        let vars: Vec<usize> = tb.block.vars();
        let mut combos: Vec<Arch> = vec![space.default_arch()];
        for &v in &vars {
            combos = combos
                .into_iter()
                .flat_map(|a| (0..layers[v].options.len()).map(move |o| a.with(v, o)))
                .collect();
        }
        let mut next = BTreeSet::new();
        for &(c, r) in &states {
            if tb.skip.is_some() {
                next.insert((c, r));
            }
            for arch in &combos {
                let op = tb.block.resolve(arch, c);
                let single = Network {
                    input: Input {
                        resolution: r,
                        channels: c,
                    },
                    layers: vec![op.clone()],
                    classes: space.classes(),
                };
                let Ok(rows) = single.layer_costs() else {
                    continue;
                };
                let row = &rows[0];
                next.insert((row.out_channels, row.output));
                if seen.insert(layer_key(&op, c, r)) {
                    out.push((op, c, r));
                }
            }
        }
        states = next;
    }
    out
}

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

/// `latency:FILE`: the sum of an architecture's layer entries (ms). A layer missing from the
/// table (a table of another space) prices the architecture out (infinite).
pub struct TableLatency {
    space: Arc<TemplateSpace>,
    table: LatencyTable,
    name: String,
}

impl TableLatency {
    /// The cost model of `table` over `space`; refuses a table measured for another space.
    pub fn new(
        space: Arc<TemplateSpace>,
        table: LatencyTable,
        name: String,
    ) -> Result<Self, String> {
        if table.space != space.name() {
            return Err(format!(
                "the latency table was measured for space {}, not {}",
                table.space,
                space.name()
            ));
        }
        Ok(TableLatency { space, table, name })
    }
}

impl CostModel for TableLatency {
    fn name(&self) -> &str {
        &self.name
    }

    fn unit(&self) -> &str {
        "ms"
    }

    fn cost(&self, arch: &Arch) -> f64 {
        let net = self.space.network(arch);
        let Ok(rows) = net.layer_costs() else {
            return f64::INFINITY;
        };
        net.layers
            .iter()
            .zip(&rows)
            .map(|(op, row)| {
                self.table
                    .entries
                    .get(&layer_key(op, row.in_channels, row.input))
                    .copied()
                    .unwrap_or(f64::INFINITY)
            })
            .sum()
    }
}

/// Spearman rank correlation of two equally long samples.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    fn ranks(v: &[f64]) -> Vec<f64> {
        let mut idx: Vec<usize> = (0..v.len()).collect();
        idx.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
        let mut r = vec![0.0; v.len()];
        let mut i = 0;
        while i < idx.len() {
            let mut j = i;
            while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
                j += 1;
            }
            let avg = (i + j) as f64 / 2.0;
            for k in i..=j {
                r[idx[k]] = avg;
            }
            i = j + 1;
        }
        r
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va.sqrt() * vb.sqrt())
}

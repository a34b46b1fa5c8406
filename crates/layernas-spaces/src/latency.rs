//! Measured latency as a cost model: a table of milliseconds per layer configuration (written by
//! `layernas profile`, which times each with an engine) prices an architecture as the sum of its
//! layers' entries. Nothing here measures: the timing lives with the trainer.

use crate::network::{Input, Network, NetworkError, Op};
use crate::TemplateSpace;
use layernas_core::{Arch, CostModel, SearchSpace};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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
    /// Milliseconds every network costs once beyond its layers' entries: one call's overhead
    /// (the entries leave it out) and what happens between layers (`layernas profile` fits it
    /// on whole networks). Absent (0) in tables without it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub base_ms: f64,
    /// Milliseconds by [`layer_key`].
    pub entries: BTreeMap<String, f64>,
}

/// Why a [`LatencyTable`] cannot price a network.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LatencyError {
    /// The network itself is invalid (shapes do not fit).
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// A layer configuration the table has no entry for (a table of another space).
    #[error("layer {layer} ({key}) is not in the latency table of space {space}")]
    MissingLayer {
        /// Index of the layer in the network.
        layer: usize,
        /// Its [`layer_key`].
        key: String,
        /// The space the table was measured for.
        space: String,
    },
}

impl LatencyTable {
    /// The latency (ms) of `network`: [`LatencyTable::base_ms`] plus the sum of its layers'
    /// entries, or the first layer the table does not have.
    pub fn network_ms(&self, network: &Network) -> Result<f64, LatencyError> {
        let rows = network.layer_costs()?;
        let layers: f64 = network
            .layers
            .iter()
            .zip(&rows)
            .enumerate()
            .map(|(layer, (op, row))| {
                let key = layer_key(op, row.in_channels, row.input);
                self.entries
                    .get(&key)
                    .copied()
                    .ok_or_else(|| LatencyError::MissingLayer {
                        layer,
                        key,
                        space: self.space.clone(),
                    })
            })
            .sum::<Result<f64, LatencyError>>()?;
        Ok(self.base_ms + layers)
    }
}

fn is_zero(value: &f64) -> bool {
    *value == 0.0
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

/// `latency:FILE`: the sum of an architecture's layer entries (ms). A layer missing from the
/// table (a table of another space) prices the architecture out (infinite); cost models never
/// fail, [`LatencyTable::network_ms`] says which layer is missing.
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
        self.table
            .network_ms(&self.space.network(arch))
            .unwrap_or(f64::INFINITY)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{nats_sss_space, space_from_toml};

    const TINY: &str = r#"
name = "tiny"
classes = 10
input = { resolution = 16, channels = 1 }
[[layers]]
op = "conv"
out = [4, 8]
kernel = 3
stride = 2
[[layers]]
op = "mbconv"
out = [8, 12]
kernel = [3, 5]
expand = 2
optional = true
[[layers]]
op = "global_pool"
[[layers]]
op = "linear"
"#;

    /// A table with an entry for every distinct layer of `space`: 1 ms, 2 ms, 3 ms, ...
    fn numbered_table(space: &TemplateSpace) -> LatencyTable {
        LatencyTable {
            space: space.name().to_string(),
            engine: "test".into(),
            warmup: 0,
            repeats: 1,
            base_ms: 0.5,
            entries: distinct_layers(space)
                .iter()
                .enumerate()
                .map(|(i, (op, c, r))| (layer_key(op, *c, *r), (i + 1) as f64))
                .collect(),
        }
    }

    #[test]
    fn a_network_costs_the_sum_of_its_layers_entries() {
        let space = Arc::new(space_from_toml(TINY, "tiny.toml").unwrap());
        let table = numbered_table(&space);
        let cost = TableLatency::new(space.clone(), table.clone(), "latency:t".into()).unwrap();
        assert_eq!(cost.name(), "latency:t");
        assert_eq!(cost.unit(), "ms");
        for arch in [space.default_arch(), space.default_arch().with(0, 0)] {
            let net = space.network(&arch);
            let rows = net.layer_costs().unwrap();
            let expected: f64 = 0.5
                + net
                    .layers
                    .iter()
                    .zip(&rows)
                    .map(|(op, row)| table.entries[&layer_key(op, row.in_channels, row.input)])
                    .sum::<f64>();
            assert!(expected >= net.layers.len() as f64);
            assert_eq!(table.network_ms(&net), Ok(expected));
            assert_eq!(cost.cost(&arch), expected);
        }
    }

    #[test]
    fn an_unknown_layer_is_named_and_prices_the_architecture_out() {
        let space = Arc::new(space_from_toml(TINY, "tiny.toml").unwrap());
        let mut table = numbered_table(&space);
        let arch = space.default_arch();
        let net = space.network(&arch);
        let rows = net.layer_costs().unwrap();
        let key = layer_key(&net.layers[0], rows[0].in_channels, rows[0].input);
        table.entries.remove(&key);
        let err = table.network_ms(&net).unwrap_err();
        assert_eq!(
            err,
            LatencyError::MissingLayer {
                layer: 0,
                key: key.clone(),
                space: "tiny".into()
            }
        );
        let msg = err.to_string();
        assert!(msg.starts_with("layer 0 ("), "{msg}");
        assert!(msg.contains(&key), "{msg}");
        assert!(
            msg.ends_with("is not in the latency table of space tiny"),
            "{msg}"
        );
        let cost = TableLatency::new(space.clone(), table, "latency".into()).unwrap();
        assert_eq!(cost.cost(&arch), f64::INFINITY);
    }

    #[test]
    fn a_table_of_another_space_is_refused() {
        let tiny = space_from_toml(TINY, "tiny.toml").unwrap();
        let table = numbered_table(&tiny);
        let err = TableLatency::new(Arc::new(nats_sss_space(32, 10)), table, "x".into())
            .err()
            .unwrap();
        assert!(err.contains("measured for space tiny"), "{err}");
    }

    #[test]
    fn the_file_format_is_unchanged() {
        let text = r#"{
  "space": "tiny",
  "engine": "burn 0.22.1 Flex CPU, batch 1, single thread",
  "warmup": 1,
  "repeats": 3,
  "entries": {
    "{\"op\":\"global_pool\"}@2x2x8": 0.001
  }
}"#;
        let table: LatencyTable = serde_json::from_str(text).unwrap();
        assert_eq!(table.entries[&layer_key(&Op::GlobalPool, 8, 2)], 0.001);
        assert_eq!(table.base_ms, 0.0);
        assert_eq!(serde_json::to_string_pretty(&table).unwrap(), text);
        // A table with a per-network cost writes it before the entries.
        let with_base = text.replace("\"repeats\": 3,", "\"repeats\": 3,\n  \"base_ms\": 0.02,");
        let table: LatencyTable = serde_json::from_str(&with_base).unwrap();
        assert_eq!(table.base_ms, 0.02);
        assert_eq!(serde_json::to_string_pretty(&table).unwrap(), with_base);
    }

    #[test]
    fn spearman_is_one_for_monotone_and_minus_one_for_reversed() {
        let a = [1.0, 2.0, 3.0, 4.0];
        assert!((spearman(&a, &[10.0, 20.0, 25.0, 90.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&a, &[4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
    }
}

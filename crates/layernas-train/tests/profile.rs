//! The profiler on a tiny space: every layer of every architecture is in the table, the table's
//! sum prices architectures, and a table of another space is refused. (The
//! pure cost model and `spearman` are tested in `layernas-spaces`.)

use layernas_core::{CostModel, SearchSpace};
use layernas_spaces::{distinct_layers, layer_key, nats_sss_space, space_from_toml, TableLatency};
use layernas_train::profile;
use std::sync::Arc;

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

#[test]
fn the_table_covers_every_architecture_and_prices_it() {
    let space = Arc::new(space_from_toml(TINY, "tiny.toml").unwrap());
    let table = profile(&space, 1, 3, |_, _| {});
    assert_eq!(table.entries.len(), distinct_layers(&space).len());
    assert!(table
        .entries
        .values()
        .all(|ms| ms.is_finite() && *ms >= 0.0));
    let cost = TableLatency::new(space.clone(), table.clone(), "latency:tiny".into()).unwrap();
    // Every architecture's layers are in the table.
    let layers = space.layers();
    let n: usize = layers.iter().map(|l| l.options.len()).product();
    for code in 0..n {
        let mut rest = code;
        let mut arch = space.default_arch();
        for (i, l) in layers.iter().enumerate() {
            arch.set(i, rest % l.options.len());
            rest /= l.options.len();
        }
        let net = space.network(&arch);
        let rows = net.layer_costs().unwrap();
        for (op, row) in net.layers.iter().zip(&rows) {
            assert!(table
                .entries
                .contains_key(&layer_key(op, row.in_channels, row.input)));
        }
        assert!(cost.cost(&arch).is_finite());
    }
    let other = Arc::new(nats_sss_space(32, 10));
    assert!(TableLatency::new(other, table, "x".into()).is_err());
}

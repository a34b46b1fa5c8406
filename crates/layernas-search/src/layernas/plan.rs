//! The plan before any evaluation: per-layer upper bounds on parents and children, the trial
//! bound and the paper's bound.

use super::buckets::BucketTable;
use super::LayerNas;
use serde::Serialize;

/// One row of [`LayerNas::plan`]: what a layer can cost at most, before anything is evaluated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanRow {
    /// Layer name.
    pub layer: String,
    /// Options of the layer.
    pub options: usize,
    /// The layer's bucket window.
    pub window: (f64, f64),
    /// Buckets of the previous layer that can hold a candidate still able to reach the window.
    pub live_buckets: usize,
    /// Upper bound on the parents expanded at this layer.
    pub parents: u64,
    /// Upper bound on new children evaluated at this layer, after cost pruning.
    pub children: u64,
}

impl LayerNas {
    /// The trial bound of [`Strategy::trial_bound`](layernas_core::Strategy::trial_bound):
    /// `1 + sum_l min(H*K, prod_{j<l} |S_j|) * (|S_l| - 1)`, capped per layer by
    /// `children_per_layer` and in total by the number of models, saturating at `u64::MAX`.
    ///
    /// Multi-fidelity search adds, per layer, at most `min(H * promote, children)` promoted
    /// children (each at most once at full fidelity): the low-fidelity trials are bounded as
    /// the single-fidelity ones, and the full-fidelity ones by the default model plus the
    /// promotions (and each by the number of models).
    pub(super) fn trials_bound(&self) -> u64 {
        let hk = self.config.buckets as u128 * self.config.keep as u128;
        let hp = self
            .config
            .multi_fidelity
            .map(|mf| self.config.buckets as u128 * mf.promote as u128);
        let mut bound: u128 = 1;
        let mut promoted: u128 = 0;
        let mut prefixes: u128 = 1;
        for layer in self.space.layers() {
            let n = layer.options.len() as u128;
            let mut children = hk.min(prefixes).saturating_mul(n.saturating_sub(1));
            if let Some(c) = self.config.children_per_layer {
                children = children.min(c as u128);
            }
            bound = bound.saturating_add(children);
            if let Some(hp) = hp {
                promoted = promoted.saturating_add(children.min(hp));
            }
            prefixes = prefixes.saturating_mul(n);
        }
        let models = self.space.num_models().max(1);
        let total = match hp {
            None => bound.min(models),
            // Low-fidelity trials (the children) and full-fidelity ones (default + promoted).
            Some(_) => (bound - 1)
                .min(models)
                .saturating_add(promoted.saturating_add(1).min(models)),
        };
        total.min(u64::MAX as u128) as u64
    }

    /// The paper's bound, H x K x |S| x L (|S| the largest option count), saturating at
    /// `u64::MAX`.
    pub fn paper_bound(&self) -> u64 {
        let layers = self.space.layers();
        let widest = layers.iter().map(|l| l.options.len()).max().unwrap_or(0);
        [self.config.keep, widest, layers.len()]
            .into_iter()
            .fold(self.config.buckets as u128, |p, x| {
                p.saturating_mul(x as u128)
            })
            .min(u64::MAX as u128) as u64
    }

    /// The layer-by-layer plan before any evaluation (`search --dry-run`): for each layer, an
    /// upper bound on the parents and on the new children after cost pruning; the total is
    /// `1 +` the sum of the children (the default model).
    ///
    /// A candidate after layer `j` can only be kept if it can still reach the cap, so its cost
    /// is at most `max_cost + D_j`, where `D_j` is the saving available from the later layers:
    /// the default model's cost minus its cheapest completion after layer `j`. Buckets of layer
    /// `j` above that cannot hold a kept candidate; with K per bucket, that bounds the parents of
    /// layer `j+1`. (Exact for additive costs; for MAdds/params of the network spaces, channel
    /// products make the default, widest model the one with the largest saving.)
    pub fn plan(&self) -> Vec<PlanRow> {
        let layers = self.space.layers();
        let n = layers.len();
        let m0 = self.space.default_arch();
        let m0_cost = self.cost.cost(&m0);
        let hk = self.config.buckets as u128 * self.config.keep as u128;
        let mut rows = Vec::with_capacity(n);
        let mut parents: u128 = 1;
        let mut prefixes: u128 = 1;
        let mut live_buckets = 1usize;
        // No architecture is evaluated twice, so all layers together add at most every model
        // but the default (and the total, with the default, fits a u64).
        let mut unseen = self
            .space
            .num_models()
            .saturating_sub(1)
            .min(u64::MAX as u128 - 1);
        for (l, layer) in layers.iter().enumerate() {
            let options = layer.options.len() as u128;
            let mut children = parents.saturating_mul(options.saturating_sub(1));
            if let Some(c) = self.config.children_per_layer {
                children = children.min(c as u128);
            }
            children = children.min(unseen);
            unseen -= children;
            let window = self.window(l);
            rows.push(PlanRow {
                layer: layer.name.clone(),
                options: layer.options.len(),
                window: (window.min, window.max),
                live_buckets,
                parents: parents.min(u64::MAX as u128) as u64,
                children: children.min(u64::MAX as u128) as u64,
            });
            // Parents of the next layer: kept candidates of this one.
            prefixes = prefixes.saturating_mul(options);
            live_buckets = match self.scope.window.max {
                None => self.config.buckets,
                Some(hi) => {
                    let free: Vec<bool> = (0..n).map(|i| i > l).collect();
                    let saving = m0_cost - self.cost.range(&*self.space, &m0, &free).min;
                    let table = BucketTable::new(
                        window,
                        self.config.buckets,
                        self.config.spacing,
                        self.config.keep,
                    );
                    if hi + saving >= window.max {
                        self.config.buckets
                    } else if hi + saving < window.min {
                        0
                    } else {
                        table.bucket(hi + saving) + 1
                    }
                }
            };
            parents = (live_buckets as u128)
                .saturating_mul(self.config.keep as u128)
                .min(hk)
                .min(prefixes);
        }
        rows
    }
}

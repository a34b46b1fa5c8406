use crate::{Arch, SearchSpace};

/// Above this many completions, [`CostModel::range`] falls back from exact enumeration to the
/// separable (per-layer additive) bound.
pub const EXACT_RANGE_LIMIT: u128 = 50_000;

/// The cheapest and the most costly cost over a set of architectures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostRange {
    /// Lowest cost.
    pub min: f64,
    /// Highest cost.
    pub max: f64,
}

/// A cheap, pure, deterministic cost: FLOPs, parameters, latency from a lookup table.
///
/// LayerNAS prices many candidates and completions before it evaluates anything, so a cost
/// model must never do I/O at call time or fail.
pub trait CostModel: Send + Sync {
    /// Name as the CLI spells it, e.g. `flops` or `latency:pixel3`.
    fn name(&self) -> &str;

    /// Unit for display, e.g. `MFLOPs`.
    fn unit(&self) -> &str;

    /// Cost of one architecture.
    fn cost(&self, arch: &Arch) -> f64;

    /// Min and max of [`cost`](CostModel::cost) over every architecture that agrees with `arch`
    /// on the layers where `free` is false.
    ///
    /// The default enumerates all completions when there are at most [`EXACT_RANGE_LIMIT`] of
    /// them (exact for any cost); beyond that it sums, per free layer, the cheapest and the most
    /// costly change from `arch`'s option, which is exact for additive costs. Cost models that
    /// know better (closed forms, precomputed tables) override it.
    fn range(&self, space: &dyn SearchSpace, arch: &Arch, free: &[bool]) -> CostRange {
        let layers = space.layers();
        let free_layers: Vec<usize> = (0..layers.len()).filter(|&i| free[i]).collect();
        let count = free_layers.iter().fold(1u128, |n, &i| {
            n.saturating_mul(layers[i].options.len() as u128)
        });
        if count <= EXACT_RANGE_LIMIT {
            exact_range(self, space, arch, &free_layers)
        } else {
            separable_range(self, space, arch, &free_layers)
        }
    }
}

fn exact_range<C: CostModel + ?Sized>(
    cost: &C,
    space: &dyn SearchSpace,
    arch: &Arch,
    free_layers: &[usize],
) -> CostRange {
    let layers = space.layers();
    let mut current = arch.clone();
    for &i in free_layers {
        current.set(i, 0);
    }
    let mut range = CostRange {
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };
    loop {
        let c = cost.cost(&current);
        range.min = range.min.min(c);
        range.max = range.max.max(c);
        // Odometer over the free layers.
        let mut carried = true;
        for &i in free_layers {
            let next = current.get(i) + 1;
            if next < layers[i].options.len() {
                current.set(i, next);
                carried = false;
                break;
            }
            current.set(i, 0);
        }
        if carried {
            return range;
        }
    }
}

fn separable_range<C: CostModel + ?Sized>(
    cost: &C,
    space: &dyn SearchSpace,
    arch: &Arch,
    free_layers: &[usize],
) -> CostRange {
    let base = cost.cost(arch);
    let mut range = CostRange {
        min: base,
        max: base,
    };
    for &i in free_layers {
        let deltas =
            (0..space.layers()[i].options.len()).map(|o| cost.cost(&arch.with(i, o)) - base);
        let (lo, hi) = deltas.fold((0.0f64, 0.0f64), |(lo, hi), d| (lo.min(d), hi.max(d)));
        range.min += lo;
        range.max += hi;
    }
    range
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GenericSpace, Layer};

    struct Sum;
    impl CostModel for Sum {
        fn name(&self) -> &str {
            "sum"
        }
        fn unit(&self) -> &str {
            ""
        }
        fn cost(&self, arch: &Arch) -> f64 {
            arch.options().iter().map(|&o| o as f64).sum()
        }
    }

    struct Product;
    impl CostModel for Product {
        fn name(&self) -> &str {
            "product"
        }
        fn unit(&self) -> &str {
            ""
        }
        fn cost(&self, arch: &Arch) -> f64 {
            arch.options().iter().map(|&o| o as f64 + 1.0).product()
        }
    }

    fn space(layers: usize) -> GenericSpace {
        GenericSpace::new(
            "t",
            (0..layers)
                .map(|i| Layer::new(format!("l{i}"), ["0", "1", "2", "3"], 3))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn exact_range_enumerates_free_layers() {
        let s = space(3);
        let a = Arch::new(vec![1, 3, 3]);
        let r = Product.range(&s, &a, &[false, true, true]);
        assert_eq!(
            r,
            CostRange {
                min: 2.0,
                max: 32.0
            }
        );
    }

    #[test]
    fn separable_range_is_exact_for_additive_costs() {
        // 4^9 = 262,144 completions: beyond the exact limit.
        let s = space(9);
        let a = Arch::new(vec![2; 9]);
        let mut free = vec![true; 9];
        free[0] = false;
        let r = Sum.range(&s, &a, &free);
        assert_eq!(
            r,
            CostRange {
                min: 2.0,
                max: 26.0
            }
        );
    }
}

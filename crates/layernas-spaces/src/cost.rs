//! MAdds and params of a template space's networks as cost models.

use crate::TemplateSpace;
use layernas_core::{Arch, CostModel, CostRange, SearchSpace};
use std::sync::Arc;

/// Which count a [`NetworkCost`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Multiply-accumulates, in millions.
    Madds,
    /// Trainable parameters, in millions.
    Params,
}

/// MAdds or params (in millions) of the network an architecture decodes to.
///
/// [`range`](CostModel::range) uses the template invariant that every search layer lists its
/// options in increasing cost: the cheapest completion sets each free layer to its first option,
/// the most costly to its last. That is exact for costs that grow with each choice whatever the
/// others are, which MAdds and params of these networks do (a test checks it on random
/// architectures).
pub struct NetworkCost {
    space: Arc<TemplateSpace>,
    metric: Metric,
}

impl NetworkCost {
    /// The cost `metric` over `space`.
    pub fn new(space: Arc<TemplateSpace>, metric: Metric) -> Self {
        NetworkCost { space, metric }
    }

    /// Cost names a network space offers.
    pub const NAMES: &'static [&'static str] = &["madds", "params"];

    /// `madds` or `params`.
    pub fn parse(space: Arc<TemplateSpace>, name: &str) -> Option<Self> {
        match name {
            "madds" => Some(Self::new(space, Metric::Madds)),
            "params" => Some(Self::new(space, Metric::Params)),
            _ => None,
        }
    }
}

impl CostModel for NetworkCost {
    fn name(&self) -> &str {
        match self.metric {
            Metric::Madds => "madds",
            Metric::Params => "params",
        }
    }

    fn unit(&self) -> &str {
        match self.metric {
            Metric::Madds => "M MAdds",
            Metric::Params => "M params",
        }
    }

    fn cost(&self, arch: &Arch) -> f64 {
        match self.space.network(arch).totals() {
            Ok(t) => {
                let v = match self.metric {
                    Metric::Madds => t.madds,
                    Metric::Params => t.params,
                };
                v as f64 / 1e6
            }
            // Unreachable for validated spaces (their largest network is checked and choices
            // only shrink it); an invalid network is priced out of every window.
            Err(_) => f64::INFINITY,
        }
    }

    fn range(&self, space: &dyn SearchSpace, arch: &Arch, free: &[bool]) -> CostRange {
        let mut low = arch.clone();
        let mut high = arch.clone();
        for (i, layer) in space.layers().iter().enumerate() {
            if free[i] {
                low.set(i, 0);
                high.set(i, layer.options.len() - 1);
            }
        }
        CostRange {
            min: self.cost(&low),
            max: self.cost(&high),
        }
    }
}

//! What every strategy of one study shares: the cost window its answer must fall in, and the
//! seed. LayerNAS, every baseline and the executor's reports read them from here, so no
//! strategy's own knobs carry them.

use crate::layernas::{number, ConfigError};
use layernas_core::{CostModel, CostRange, SearchSpace};
use serde::Serialize;

/// The range of cost a study's answer must fall in. Both ends are optional; with neither, the
/// search is a front search (every cost at once).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct CostWindow {
    /// Lowest acceptable cost, if any (finite, 0 or more); cheaper models are rejected before
    /// evaluation.
    pub min: Option<f64>,
    /// Highest acceptable cost, if any (finite, 0 or more); costlier models are rejected
    /// before evaluation.
    pub max: Option<f64>,
}

impl CostWindow {
    /// The window with no bounds: a front search.
    pub const UNBOUNDED: CostWindow = CostWindow {
        min: None,
        max: None,
    };

    /// The window of costs at most `max`.
    pub fn at_most(max: f64) -> CostWindow {
        CostWindow {
            min: None,
            max: Some(max),
        }
    }

    /// True when neither end is set.
    pub fn is_unbounded(&self) -> bool {
        self.min.is_none() && self.max.is_none()
    }

    /// True when `cost` lies inside the window (ends included).
    pub fn contains(&self, cost: f64) -> bool {
        self.min.is_none_or(|lo| cost >= lo) && self.max.is_none_or(|hi| cost <= hi)
    }

    /// True when some cost of `range` lies inside the window.
    pub fn meets(&self, range: CostRange) -> bool {
        self.max.is_none_or(|hi| range.min <= hi) && self.min.is_none_or(|lo| range.max >= lo)
    }

    /// `range` narrowed to the window.
    pub fn clip(&self, mut range: CostRange) -> CostRange {
        if let Some(lo) = self.min {
            range.min = range.min.max(lo);
        }
        if let Some(hi) = self.max {
            range.max = range.max.min(hi);
        }
        range
    }

    /// Checks the ends on their own: finite, 0 or more, and `min <= max`. Errors name the
    /// knobs as users write them (`min_cost`, `max_cost`).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, value: String, reason: String| {
            Err(ConfigError::Invalid {
                field,
                value,
                reason,
            })
        };
        for (field, value) in [("min_cost", self.min), ("max_cost", self.max)] {
            if let Some(v) = value {
                if !v.is_finite() {
                    return invalid(field, number(v), "must be a finite number".into());
                }
                if v < 0.0 {
                    return invalid(field, number(v), "must be 0 or more".into());
                }
            }
        }
        if let (Some(lo), Some(hi)) = (self.min, self.max) {
            if lo > hi {
                return invalid(
                    "min_cost",
                    lo.to_string(),
                    format!("is above max_cost {hi}"),
                );
            }
        }
        Ok(())
    }

    /// [`CostWindow::validate`], then checks that some model of `space` can fall inside: the
    /// window must not end below the cheapest model or start above the most costly.
    pub fn validate_for(
        &self,
        space: &dyn SearchSpace,
        cost: &dyn CostModel,
    ) -> Result<(), ConfigError> {
        self.validate()?;
        let all_free = vec![true; space.layers().len()];
        let full = cost.range(space, &space.default_arch(), &all_free);
        let unit = cost.unit();
        if let Some(hi) = self.max {
            if hi < full.min {
                return Err(ConfigError::Invalid {
                    field: "max_cost",
                    value: number(hi),
                    reason: format!(
                        "is below the cheapest model of space {} ({} {unit} by {})",
                        space.name(),
                        full.min,
                        cost.name()
                    ),
                });
            }
        }
        if let Some(lo) = self.min {
            if lo > full.max {
                return Err(ConfigError::Invalid {
                    field: "min_cost",
                    value: number(lo),
                    reason: format!(
                        "is above the most costly model of space {} ({} {unit} by {})",
                        space.name(),
                        full.max,
                        cost.name()
                    ),
                });
            }
        }
        Ok(())
    }
}

/// What every strategy of a study shares: the cost window and the seed.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Scope {
    /// The cost window the answer must fall in.
    pub window: CostWindow,
    /// The seed of every random choice a strategy makes.
    pub seed: u64,
}

impl Scope {
    /// The window `window` with seed 0.
    pub fn window(window: CostWindow) -> Scope {
        Scope { window, seed: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_and_meets_include_the_ends() {
        let w = CostWindow {
            min: Some(2.0),
            max: Some(5.0),
        };
        assert!(w.contains(2.0) && w.contains(5.0) && !w.contains(5.5) && !w.contains(1.0));
        assert!(w.meets(CostRange { min: 5.0, max: 9.0 }));
        assert!(!w.meets(CostRange { min: 5.1, max: 9.0 }));
        assert!(!w.meets(CostRange { min: 0.0, max: 1.9 }));
        assert!(CostWindow::UNBOUNDED.contains(f64::MAX));
        let c = w.clip(CostRange {
            min: 0.0,
            max: 10.0,
        });
        assert_eq!((c.min, c.max), (2.0, 5.0));
    }

    #[test]
    fn validate_names_the_knob() {
        let e = CostWindow {
            min: Some(3.0),
            max: Some(1.0),
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.to_string(), "invalid min_cost 3: is above max_cost 1");
        let e = CostWindow::at_most(f64::INFINITY).validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid max_cost inf: must be a finite number"
        );
    }
}

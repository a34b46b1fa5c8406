//! LayerNAS configuration: every knob, its defaults, its allowed ranges and their errors.

use serde::Serialize;

/// How bucket edges are spread over a layer's cost window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Spacing {
    /// Equal-width buckets (the paper).
    Linear,
    /// Geometric edges: finer buckets for cheap models.
    Log,
}

/// Which evaluated models the final answer is chosen from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Selection {
    /// The candidates kept after the last layer (the spec's `answer(target)`).
    Kept,
    /// Every evaluated model in the cost window.
    Evaluated,
}

/// Multi-fidelity LayerNAS (beyond the paper). At each layer:
///
/// 1. the new children are evaluated at low fidelity ([`Fidelity::Low`](layernas_core::Fidelity));
/// 2. in each cost bucket they are ranked by their low-fidelity reward (ties to lower cost, then
///    first evaluated), and the best `promote` are evaluated again at full fidelity, but only
///    children that could enter the bucket's K: when the bucket already keeps K candidates
///    known at full fidelity (the parent, or a model seen at an earlier layer), a child is
///    promoted only if its low-fidelity reward beats the low-fidelity reward of the K-th of
///    them. The default model (evaluated at full fidelity first) is evaluated at low fidelity
///    too when it first competes, to serve as that bar. Children that fail at low fidelity are
///    not promoted; a child screened at an earlier layer competes again with its known result;
/// 3. the bucket keeps its best K by full-fidelity reward. Low-fidelity results never enter the
///    kept candidates, the answer or the front.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MultiFidelity {
    /// Children promoted to full fidelity per bucket and layer, at most (default 1; 1 to
    /// [`MAX_KEEP`]).
    pub promote: usize,
}

impl Default for MultiFidelity {
    fn default() -> Self {
        MultiFidelity { promote: 1 }
    }
}

/// The most buckets per layer, H, LayerNAS accepts.
pub const MAX_BUCKETS: usize = 1_000_000;
/// The most candidates kept per bucket, K, LayerNAS accepts.
pub const MAX_KEEP: usize = 1_000_000;

/// Every knob of LayerNAS, with the spec's defaults. The cost window and the seed are the
/// study's, shared by every strategy: [`Scope`](crate::Scope).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerNasConfig {
    /// Buckets per layer, H (default 100; 1 to [`MAX_BUCKETS`]).
    pub buckets: usize,
    /// Bucket spacing (default linear).
    pub spacing: Spacing,
    /// Candidates kept per bucket, K (default 1; 1 to [`MAX_KEEP`]).
    pub keep: usize,
    /// Sample this many children per layer (seeded) instead of expanding all (at least 1).
    pub children_per_layer: Option<usize>,
    /// Final selection rule (default kept).
    pub select: Selection,
    /// Multi-fidelity search and its promotion rule; `None` (the default, the paper's
    /// method): every trial at full fidelity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_fidelity: Option<MultiFidelity>,
}

impl Default for LayerNasConfig {
    fn default() -> Self {
        LayerNasConfig {
            buckets: 100,
            spacing: Spacing::Linear,
            keep: 1,
            children_per_layer: None,
            select: Selection::Kept,
            multi_fidelity: None,
        }
    }
}

/// A number as error messages write it: plainly, or in exponent form when the plain form is
/// long and that is shorter (`1e300`, not 301 digits).
pub fn number(v: f64) -> String {
    let plain = v.to_string();
    let exp = format!("{v:e}");
    if plain.len() > 12 && exp.len() < plain.len() {
        exp
    } else {
        plain
    }
}

impl LayerNasConfig {
    /// Checks every knob against its allowed range, independently of any space: H in
    /// 1..=[`MAX_BUCKETS`], K and `promote` in 1..=[`MAX_KEEP`], `children_per_layer` at least 1.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &'static str, value: String, reason: String| {
            Err(ConfigError::Invalid {
                field,
                value,
                reason,
            })
        };
        if !(1..=MAX_BUCKETS).contains(&self.buckets) {
            return invalid(
                "buckets",
                self.buckets.to_string(),
                format!("must be 1 to {MAX_BUCKETS}"),
            );
        }
        if !(1..=MAX_KEEP).contains(&self.keep) {
            return invalid(
                "keep",
                self.keep.to_string(),
                format!("must be 1 to {MAX_KEEP}"),
            );
        }
        if let Some(mf) = self.multi_fidelity {
            if !(1..=MAX_KEEP).contains(&mf.promote) {
                return invalid(
                    "promote",
                    mf.promote.to_string(),
                    format!("must be 1 to {MAX_KEEP}"),
                );
            }
        }
        if self.children_per_layer == Some(0) {
            return invalid(
                "children_per_layer",
                "0".into(),
                "must be at least 1 (omit it to expand every child)".into(),
            );
        }
        Ok(())
    }
}

/// A configuration LayerNAS cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// A knob is out of its allowed range.
    #[error("invalid {field} {value}: {reason}")]
    Invalid {
        /// The knob.
        field: &'static str,
        /// Its value.
        value: String,
        /// What is allowed.
        reason: String,
    },
}

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
///    them ([`PromotionBar::Incumbent`]), or, with [`PromotionBar::Calibrated`], the lower of
///    that and the low-fidelity reward a straight line fitted to every model known at both
///    fidelities maps to the K-th's full-fidelity reward. The default model (evaluated at full
///    fidelity first) is evaluated at low fidelity too when it first competes, to serve as that
///    bar. Children that fail at low fidelity are not promoted; a child screened at an earlier
///    layer competes again with its known result;
/// 3. the bucket keeps its best K by full-fidelity reward. Low-fidelity results never enter the
///    kept candidates, the answer or the front.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MultiFidelity {
    /// Children promoted to full fidelity per bucket and layer, at most (default 1; 1 to
    /// [`MAX_KEEP`]).
    pub promote: usize,
    /// The bar a full bucket's challengers must clear at low fidelity (default
    /// [`PromotionBar::Incumbent`]).
    #[serde(skip_serializing_if = "PromotionBar::is_incumbent")]
    pub bar: PromotionBar,
}

impl Default for MultiFidelity {
    fn default() -> Self {
        MultiFidelity {
            promote: 1,
            bar: PromotionBar::Incumbent,
        }
    }
}

/// Multi-fidelity LayerNAS: what a challenger's low-fidelity reward must beat to be promoted
/// into a bucket that already keeps K candidates known at full fidelity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PromotionBar {
    /// The K-th incumbent's own low-fidelity reward (one measurement: a lucky incumbent blocks
    /// its bucket).
    #[default]
    Incumbent,
    /// The lower of the K-th incumbent's low-fidelity reward and the low-fidelity reward that a
    /// least-squares line of full- on low-fidelity reward, fitted to every model known at both
    /// fidelities so far (at least 3, rising), maps to the K-th's full-fidelity reward: a
    /// challenger either estimate says could beat the incumbent is promoted.
    Calibrated,
}

impl PromotionBar {
    fn is_incumbent(&self) -> bool {
        *self == PromotionBar::Incumbent
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
    /// Cap focus, F (beyond the paper; default 1, off; 1 to [`MAX_KEEP`]; F > 1 needs a
    /// `max_cost`). With F > 1, the parents of the last layer (the candidates kept after the
    /// second-to-last layer) are chosen nearer the cap: the buckets are taken from the most
    /// costly down, each keeping up to F x K candidates, until as many are kept as the plain
    /// rule (K per bucket) keeps; the cheapest buckets keep none. The last layer expands as
    /// many parents as in the plain search, so the trial bound is unchanged, but the search
    /// answers the cap better and cheaper targets under it worse (README, "Single-cap search").
    #[serde(skip_serializing_if = "is_one")]
    pub cap_focus: usize,
}

fn is_one(n: &usize) -> bool {
    *n == 1
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
            cap_focus: 1,
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
    /// 1..=[`MAX_BUCKETS`], K, `promote` and `cap_focus` in 1..=[`MAX_KEEP`],
    /// `children_per_layer` at least 1. (That `cap_focus` > 1 needs a `max_cost` is checked
    /// with the cost window, by [`LayerNas::new`](crate::LayerNas::new).)
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
        if !(1..=MAX_KEEP).contains(&self.cap_focus) {
            return invalid(
                "cap_focus",
                self.cap_focus.to_string(),
                format!("must be 1 to {MAX_KEEP} (1: off)"),
            );
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

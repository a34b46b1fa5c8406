use crate::{
    BaselineConfig, ConfigError, Evolution, EvolutionConfig, Exhaustive, HalvingConfig, LayerNas,
    LayerNasConfig, Nsga2, Nsga2Config, RandomSearch, Reinforce, ReinforceConfig, Scope,
    SuccessiveHalving,
};
use layernas_core::{CostModel, SearchSpace, Strategy};
use std::sync::Arc;

/// Strategy names as the CLI spells them.
pub const STRATEGIES: &[&str] = &[
    "layernas",
    "random",
    "evolution",
    "reinforce",
    "nsga2",
    "exhaustive",
];

/// Strategies that evaluate at two fidelities (each model at most once per fidelity), as the
/// CLI spells them; [`build_strategy`] builds them too. Multi-fidelity LayerNAS is `layernas`
/// with [`LayerNasConfig::multi_fidelity`].
pub const MULTI_FIDELITY_STRATEGIES: &[&str] = &["successive-halving"];

/// Everything needed to build any strategy by name.
#[derive(Debug, Clone, Default)]
pub struct StrategyConfig {
    /// The cost window and seed every strategy uses.
    pub scope: Scope,
    /// LayerNAS knobs.
    pub layernas: LayerNasConfig,
    /// Trial budget of the baselines (default 300); LayerNAS is bounded by the executor.
    pub max_trials: Option<u64>,
    /// Regularized evolution knobs.
    pub evolution: EvolutionConfig,
    /// REINFORCE knobs.
    pub reinforce: ReinforceConfig,
    /// NSGA-II knobs.
    pub nsga2: Nsga2Config,
    /// Random search: architectures per wave.
    pub random_batch: usize,
    /// Successive-halving knobs.
    pub halving: HalvingConfig,
}

/// Builds the strategy `name`.
pub fn build_strategy(
    name: &str,
    config: &StrategyConfig,
    space: Arc<dyn SearchSpace>,
    cost: Arc<dyn CostModel>,
) -> Result<Box<dyn Strategy>, ConfigError> {
    // Validates the cost window against the space for every strategy alike.
    let layernas = LayerNas::new(
        config.layernas.clone(),
        config.scope,
        space.clone(),
        cost.clone(),
    )?;
    match name {
        "evolution" => config.evolution.validate(Some(space.layers().len()))?,
        "reinforce" => config.reinforce.validate()?,
        "nsga2" => config.nsga2.validate()?,
        "successive-halving" => config.halving.validate()?,
        _ => {}
    }

    let baseline = BaselineConfig {
        scope: config.scope,
        max_trials: config
            .max_trials
            .unwrap_or(if name == "exhaustive" { u64::MAX } else { 300 }),
    };
    Ok(match name {
        "layernas" => Box::new(layernas),
        "random" => Box::new(RandomSearch::new(
            baseline,
            config.random_batch.max(1),
            space,
            cost,
        )),
        "evolution" => Box::new(Evolution::new(
            baseline,
            config.evolution.clone(),
            space,
            cost,
        )),
        "reinforce" => Box::new(Reinforce::new(
            baseline,
            config.reinforce.clone(),
            space,
            cost,
        )),
        "nsga2" => Box::new(Nsga2::new(baseline, config.nsga2.clone(), space, cost)),
        "successive-halving" => Box::new(SuccessiveHalving::new(
            baseline,
            config.halving.clone(),
            space,
            cost,
        )),
        "exhaustive" => {
            let models = space.num_models();
            Box::new(
                Exhaustive::new(baseline, space, cost).ok_or(ConfigError::Invalid {
                    field: "strategy",
                    value: name.into(),
                    reason: format!(
                        "the space has {models} models; exhaustive search is for tables (at most {})",
                        crate::EXHAUSTIVE_LIMIT
                    ),
                })?,
            )
        }
        other => {
            return Err(ConfigError::Invalid {
                field: "strategy",
                value: other.into(),
                reason: format!(
                    "unknown (allowed: {}, {})",
                    STRATEGIES.join(", "),
                    MULTI_FIDELITY_STRATEGIES.join(", ")
                ),
            })
        }
    })
}

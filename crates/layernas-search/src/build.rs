use crate::{
    BaselineConfig, ConfigError, Evolution, EvolutionConfig, Exhaustive, LayerNas, LayerNasConfig,
    Nsga2, Nsga2Config, RandomSearch, Reinforce, ReinforceConfig,
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

/// Everything needed to build any strategy by name.
#[derive(Debug, Clone, Default)]
pub struct StrategyConfig {
    /// LayerNAS knobs (its cost window and seed are used by every strategy).
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
}

/// Builds the strategy `name`.
pub fn build_strategy(
    name: &str,
    config: &StrategyConfig,
    space: Arc<dyn SearchSpace>,
    cost: Arc<dyn CostModel>,
) -> Result<Box<dyn Strategy>, ConfigError> {
    // Validates the cost window against the space for every strategy alike.
    let layernas = LayerNas::new(config.layernas.clone(), space.clone(), cost.clone())?;
    match name {
        "evolution" => config.evolution.validate(Some(space.layers().len()))?,
        "reinforce" => config.reinforce.validate()?,
        "nsga2" => config.nsga2.validate()?,
        _ => {}
    }

    let baseline = BaselineConfig {
        min_cost: config.layernas.min_cost,
        max_cost: config.layernas.max_cost,
        max_trials: config
            .max_trials
            .unwrap_or(if name == "exhaustive" { u64::MAX } else { 300 }),
        seed: config.layernas.seed,
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
                reason: format!("unknown (allowed: {})", STRATEGIES.join(", ")),
            })
        }
    })
}

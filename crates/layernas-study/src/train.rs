//! `layernas train`: what to train and how, resolved once into a [`TrainJob`]. The network is
//! one architecture of a space (`--arch`, with the study's flags or file) or of a stored study
//! (`--pick best | max-cost=X | trial=N`: the study file stored with it gives the space, the
//! data set and the recipe); the recipe is the study's `[train]` table with the command line's
//! knobs over it (`skip_test` reset first: the trained model is scored on the test set unless a
//! setting says otherwise). By default the network is trained as the search trained it: the recipe's
//! proxy (`width`, `depth`), adapted to the data's input and classes; `full` trains the space's
//! network at width 1 and depth 1 (still adapted to the data). The data is the study's:
//! Fashion-MNIST, or the user's own (`--data`, or a stored study's `[data]` table), of which the
//! images the recipe uses are loaded (from the cache a search on them wrote).

use crate::study::{Overrides, Study, StudyDataset};
use crate::wiring::{
    build_study_strategy, cost_model, open_existing_store, select_stored, training_data, Space,
};
use crate::{StudyError, StudyFile};
use layernas_core::{trial_seed, Arch, Cancel, Fidelity, SearchSpace, Trial, TrialState};
use layernas_tables::DataSource;
use layernas_train::{train_into, ImageData, RunEvent, RunReport, RunSpec, TrainConfig};
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;

/// Which trial of a stored study to train.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pick {
    /// The study's answer, as its search reports it (the strategy replayed over the trials).
    Best,
    /// The best validation accuracy among complete trials costing at most this much.
    MaxCost(f64),
    /// The trial with this id.
    Trial(u64),
}

impl Pick {
    /// `best`, `max-cost=X` or `trial=N`.
    pub fn parse(text: &str) -> Result<Pick, StudyError> {
        let bad = || StudyError::Invalid {
            field: "pick",
            value: text.to_string(),
            rule: "expected best, max-cost=X (a finite cost, 0 or more) or trial=N".into(),
        };
        match text.split_once('=') {
            None if text == "best" => Ok(Pick::Best),
            Some(("max-cost", x)) => match x.parse::<f64>() {
                Ok(v) if v.is_finite() && v >= 0.0 => Ok(Pick::MaxCost(v)),
                _ => Err(bad()),
            },
            Some(("trial", n)) => n.parse().map(Pick::Trial).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

/// Where the architecture comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// An architecture as the space writes it (or `backbone`, where the space has one), in the
    /// study the overrides define.
    Arch(String),
    /// A trial of a stored study.
    Stored {
        /// The store's URL.
        store: String,
        /// The study's name.
        study: String,
        /// Which trial.
        pick: Pick,
    },
}

/// The recipe knobs of `layernas train` beyond the study's flags: `key=value` settings of the
/// `[train]` table (`batch_size=32`, `optimizer=adam`, `width=0.5`; a value that is not TOML is
/// taken as text), applied in order and validated as a study's `[train]` table is.
#[derive(Debug, Clone, Default)]
pub struct RecipeFlags {
    /// `key=value` settings.
    pub set: Vec<String>,
    /// Train the space's network itself (width 1, depth 1), not the recipe's proxy.
    pub full: bool,
}

/// A `layernas train` request: the source, the study's flags and the recipe's knobs.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    /// Where the architecture comes from.
    pub source: Source,
    /// The study's flags (with `--arch`: the space, data set, study file; always: the recipe's
    /// `epochs`, `train_subset`, threads, engine, data folder).
    pub overrides: Overrides,
    /// The other recipe knobs.
    pub recipe: RecipeFlags,
    /// The training seed [default: a picked trial's own seed, so that the study's recipe
    /// repeats that trial; else the study's seed].
    pub seed: Option<u64>,
}

/// The trial a network was picked from.
#[derive(Debug, Clone, Serialize)]
pub struct Picked {
    /// Store URL.
    pub store: String,
    /// Study name.
    pub study: String,
    /// How it was picked (`best`, `max-cost=X`, `trial=N`).
    pub pick: String,
    /// Trial id.
    pub trial: u64,
    /// The trial's reward (validation accuracy) in the search, if it completed.
    pub reward: Option<f64>,
    /// The trial's test accuracy in the search, if it reported one.
    pub test: Option<f64>,
}

/// What is trained, for people: stored with the results (`run.json`, `metrics.json`).
#[derive(Debug, Clone, Serialize)]
pub struct About {
    /// Space name.
    pub space: String,
    /// The architecture, as the space writes it.
    pub arch: String,
    /// Cost model name.
    pub cost_name: String,
    /// The architecture's cost in the study's cost model (of the space's network, before any
    /// proxy).
    pub cost: f64,
    /// Its unit.
    pub cost_unit: String,
    /// `proxy` (the recipe's width and depth) or `full`.
    pub network: &'static str,
    /// Width multiplier trained.
    pub width: f64,
    /// Depth multiplier trained.
    pub depth: f64,
    /// Trainable parameters of the network trained.
    pub params: u64,
    /// Multiply-adds of the network trained, in millions.
    pub madds: f64,
    /// The stored trial it comes from, if any.
    pub picked: Option<Picked>,
}

/// A resolved `layernas train`: the run's spec, its description and the data.
pub struct TrainJob {
    /// What the run trains (network, recipe, seed, data).
    pub spec: RunSpec,
    /// Where it comes from.
    pub about: About,
    /// The data (only the images the recipe uses, for the user's data set).
    pub data: Arc<ImageData>,
}

impl RecipeFlags {
    /// `recipe` with these settings over it, validated. A search's recipe may skip the test
    /// set ([`TrainConfig::skip_test`]); the model `layernas train` trains is scored on it again
    /// unless a setting says `skip_test=true`.
    pub fn apply(&self, recipe: TrainConfig) -> Result<TrainConfig, StudyError> {
        let recipe = TrainConfig {
            skip_test: false,
            ..recipe
        };
        let toml::Value::Table(mut table) =
            toml::Value::try_from(&recipe).expect("a recipe serializes")
        else {
            unreachable!("a recipe is a table")
        };
        for setting in &self.set {
            let (key, text) = setting.split_once('=').ok_or_else(|| StudyError::Invalid {
                field: "set",
                value: setting.clone(),
                rule: "expected KEY=VALUE with KEY a [train] setting".into(),
            })?;
            let (key, text) = (key.trim(), text.trim());
            if self.full && (key == "width" || key == "depth") {
                return Err(StudyError::Input(format!(
                    "--full trains width 1 and depth 1: give it without {key}="
                )));
            }
            let value = toml::from_str::<toml::Table>(&format!("v = {text}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(text.to_string()));
            table.insert(key.to_string(), value);
        }
        let mut recipe: TrainConfig = toml::Value::Table(table)
            .try_into()
            .map_err(|e| StudyError::Input(format!("invalid train setting: {}", one_line(&e))))?;
        if self.full {
            recipe.width = 1.0;
            recipe.depth = 1.0;
        }
        recipe.validate().map_err(StudyError::Input)?;
        Ok(recipe)
    }
}

fn one_line(e: &impl std::fmt::Display) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The arch, the trial it comes from (if any) and the study, of a stored study.
fn picked_from_store(
    store_url: &str,
    name: &str,
    pick: Pick,
    overrides: &Overrides,
) -> Result<(Study, Space, Arch, Picked, u64), StudyError> {
    let mut store = open_existing_store(store_url)?;
    select_stored(store_url, name, &mut *store)?;
    let config = store
        .study_config(name)?
        .ok_or_else(|| StudyError::Input(format!("study {name} is not in store {store_url}")))?;
    let study = overrides.merge(StudyFile::from_stored(name, &config)?)?;
    let space = Space::resolve(&study.space, study.dataset)?;
    let trials = store.trials()?;
    let full_complete =
        |t: &&Trial| t.state == TrialState::Complete && t.fidelity == Fidelity::Full;
    let none = |what: String| StudyError::Input(format!("study {name} in {store_url} has {what}"));
    let trial: &Trial = match pick {
        Pick::Best => {
            let cost = cost_model(&space, &study)?;
            let mut strategy = build_study_strategy(&study, space.dyn_space(), cost)?;
            layernas_core::replay(&mut *strategy, &trials);
            let best = strategy.best().ok_or_else(|| {
                none("no answer yet (no complete trial in its cost window)".into())
            })?;
            trials
                .iter()
                .filter(full_complete)
                .find(|t| t.arch == best)
                .ok_or_else(|| none("no complete trial of its answer".into()))?
        }
        Pick::MaxCost(cap) => trials
            .iter()
            .filter(full_complete)
            .filter(|t| t.cost <= cap && t.reward.is_some_and(f64::is_finite))
            .min_by(|a, b| {
                let (ra, rb) = (a.reward.unwrap_or(f64::NAN), b.reward.unwrap_or(f64::NAN));
                rb.total_cmp(&ra)
                    .then(a.cost.total_cmp(&b.cost))
                    .then(a.id.cmp(&b.id))
            })
            .ok_or_else(|| none(format!("no complete trial costing at most {cap}")))?,
        Pick::Trial(id) => trials
            .iter()
            .find(|t| t.id == id)
            .ok_or_else(|| none(format!("no trial {id}")))?,
    };
    let picked = Picked {
        store: store_url.to_string(),
        study: name.to_string(),
        pick: match pick {
            Pick::Best => "best".into(),
            Pick::MaxCost(c) => format!("max-cost={c}"),
            Pick::Trial(n) => format!("trial={n}"),
        },
        trial: trial.id,
        reward: trial.reward,
        test: trial.metrics.get("test").copied(),
    };
    let seed = trial_seed(study.strategies.scope.seed, trial.id);
    Ok((study, space, trial.arch.clone(), picked, seed))
}

impl TrainJob {
    /// Resolves `request`: the study, the architecture, the recipe, the network trained and
    /// the data (loaded here).
    pub fn prepare(request: &TrainRequest) -> Result<TrainJob, StudyError> {
        let (study, space, arch, picked, default_seed) = match &request.source {
            Source::Arch(text) => {
                let o = &request.overrides;
                let mut file = match &o.config {
                    Some(path) => StudyFile::read(path)?,
                    None => StudyFile::default(),
                };
                // What `layernas train` trains with unless told: the built-in trainer's data.
                if o.data.is_none() && file.data.is_none() {
                    file.dataset.get_or_insert_with(|| "fashion-mnist".into());
                }
                file.evaluator.get_or_insert_with(|| "train".into());
                let study = o.merge(file)?;
                let space = Space::resolve(&study.space, study.dataset)?;
                let arch = match &space {
                    Space::Template(t) => t.parse_arch(text).map_err(StudyError::input)?,
                    Space::Nb201(_) => return Err(nb201()),
                };
                let seed = study.strategies.scope.seed;
                (study, space, arch, None, seed)
            }
            Source::Stored { store, study, pick } => {
                let (s, space, arch, picked, seed) =
                    picked_from_store(store, study, *pick, &request.overrides)?;
                (s, space, arch, Some(picked), seed)
            }
        };
        let template = space.template().ok_or_else(nb201)?.clone();
        if !matches!(
            study.dataset,
            StudyDataset::FashionMnist | StudyDataset::Files(_)
        ) {
            return Err(StudyError::Input(format!(
                "the built-in trainer trains on fashion-mnist or your data (--data PATH), not {} \
                 (use --dataset fashion-mnist)",
                study.dataset.name()
            )));
        }
        let recipe = request.recipe.apply(study.train.clone())?;
        let written = template.format(&arch);
        let network = template
            .validate(&arch)
            .map_err(|e| StudyError::Input(format!("architecture {written} is invalid: {e}")))?;
        let data = training_data(&study, &recipe)?;
        let trained =
            layernas_train::proxy_network(&network, &data, &recipe).map_err(StudyError::input)?;
        let totals = trained.totals().map_err(StudyError::input)?;
        let cost = cost_model(&space, &study)?;
        let about = About {
            space: template.name().to_string(),
            arch: written,
            cost_name: cost.name().to_string(),
            cost: cost.cost(&arch),
            cost_unit: cost.unit().to_string(),
            network: if recipe.width == 1.0 && recipe.depth == 1.0 {
                "full"
            } else {
                "proxy"
            },
            width: recipe.width,
            depth: recipe.depth,
            params: totals.params,
            madds: totals.madds as f64 / 1e6,
            picked,
        };
        let spec = RunSpec {
            network: trained,
            seed: request.seed.unwrap_or(default_seed),
            recipe,
            dataset: study.dataset.name().to_string(),
            // Fashion-MNIST's folder; the user's data set is named by its spec.
            data_dir: match (&study.data, &study.data_spec) {
                (DataSource::Dir(d), None) => Some(d.clone()),
                _ => None,
            },
            data: study.data_spec.clone(),
        };
        Ok(TrainJob { spec, about, data })
    }

    /// Trains into `output` (resuming the run there, or replacing it with `restart`).
    pub fn run(
        &self,
        output: &Path,
        restart: bool,
        cancel: &Cancel,
        on_event: &mut (dyn FnMut(RunEvent) + Send),
    ) -> Result<RunReport, StudyError> {
        let about = serde_json::to_value(&self.about).expect("about serializes");
        train_into(
            &self.spec, &about, &self.data, output, restart, cancel, on_event,
        )
        .map_err(|e| match e.is_input() {
            true => StudyError::Input(e.to_string()),
            false => StudyError::Run(e.to_string()),
        })
    }
}

fn nb201() -> StudyError {
    StudyError::Input(
        "space nb201 has no network description to train (its accuracies come from the benchmark table); choose a network space".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_parse_or_name_the_forms() {
        assert_eq!(Pick::parse("best").unwrap(), Pick::Best);
        assert_eq!(Pick::parse("max-cost=1.5").unwrap(), Pick::MaxCost(1.5));
        assert_eq!(Pick::parse("trial=7").unwrap(), Pick::Trial(7));
        for bad in ["worst", "max-cost=-1", "max-cost=inf", "trial=x", "trial"] {
            let e = Pick::parse(bad).unwrap_err().to_string();
            assert!(e.contains("best, max-cost=X"), "{e}");
        }
    }

    #[test]
    fn recipe_settings_are_validated_as_the_train_table() {
        let set = |items: &[&str], full: bool| RecipeFlags {
            set: items.iter().map(|s| s.to_string()).collect(),
            full,
        };
        let r = set(
            &[
                "optimizer=adam",
                "schedule=constant",
                "batch_size=32",
                "width=0.5",
            ],
            false,
        )
        .apply(TrainConfig::default())
        .unwrap();
        assert_eq!(r.optimizer, layernas_train::OptimizerKind::Adam);
        assert_eq!(r.schedule, layernas_train::Schedule::Constant);
        assert_eq!((r.batch_size, r.width), (32, 0.5));
        for (items, expected) in [
            (
                &["optimizer=adamw"][..],
                "unknown variant `adamw`, expected `sgd` or `adam`",
            ),
            (&["batchsize=3"][..], "unknown field `batchsize`"),
            (&["depth=2"][..], "depth must be in (0, 1] (got 2)"),
            (&["epochs"][..], "expected KEY=VALUE"),
        ] {
            let e = set(items, false)
                .apply(TrainConfig::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains(expected) && !e.contains('\n'), "{e}");
        }
        let full = set(&[], true);
        let r = full
            .apply(TrainConfig {
                width: 0.5,
                ..TrainConfig::default()
            })
            .unwrap();
        assert_eq!((r.width, r.depth), (1.0, 1.0));
        assert!(set(&["width=0.5"], true)
            .apply(TrainConfig::default())
            .is_err());
        // A search that skipped the test set: its answer's training scores it again, unless
        // told not to.
        let skipped = || TrainConfig {
            skip_test: true,
            ..TrainConfig::default()
        };
        assert!(!set(&[], false).apply(skipped()).unwrap().skip_test);
        assert!(
            set(&["skip_test=true"], false)
                .apply(skipped())
                .unwrap()
                .skip_test
        );
    }
}

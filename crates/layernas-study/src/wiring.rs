//! The components of a study, built from its typed values: the space, its cost model, the
//! evaluator, the store and the strategy. Every command builds them here, and only here.

use crate::names::{CostName, SpaceName};
use crate::study::{EvaluatorKind, Study, StudyDataset};
use crate::{read_text_file, StudyError};
use layernas_core::{
    CostModel, Evaluator, MemoryStore, SearchSpace, StoreError, Strategy, StudyOpen, TrialStore,
};
use layernas_eval::CommandEvaluator;
use layernas_search::build_strategy;
use layernas_spaces::{
    mobilenet_v2_space, mobilenet_v3_space, nats_sss_space, space_from_toml, LatencyTable, Metric,
    Nb201Space, NetworkCost, TableLatency, TemplateSpace,
};
use layernas_tables::{DataSource, Dataset, Nb201Table, TableCost, TableEvaluator};
use layernas_train::{Engine, ImageData, LoadOptions, TrainConfig, TrainEvaluator};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A resolved space.
#[derive(Clone)]
pub enum Space {
    /// The NAS-Bench-201 cell space (costs and rewards from the table).
    Nb201(Arc<Nb201Space>),
    /// A network template space (costs computed from the network).
    Template(Arc<TemplateSpace>),
}

impl Space {
    /// The space `name` names. `nats-sss` takes its input size and classes from `dataset`
    /// ([`StudyDataset::shape`]).
    pub fn resolve(name: &SpaceName, dataset: StudyDataset) -> Result<Space, StudyError> {
        Ok(match name {
            SpaceName::Nb201 => Space::Nb201(Arc::new(Nb201Space::new())),
            SpaceName::MobileNetV2 => Space::Template(Arc::new(mobilenet_v2_space())),
            SpaceName::MobileNetV3Large => Space::Template(Arc::new(mobilenet_v3_space(true))),
            SpaceName::MobileNetV3Small => Space::Template(Arc::new(mobilenet_v3_space(false))),
            SpaceName::NatsSss => {
                let (resolution, classes) = match dataset.shape() {
                    Dataset::Cifar10 => (32, 10),
                    Dataset::Cifar100 => (32, 100),
                    Dataset::Imagenet16 => (16, 120),
                };
                Space::Template(Arc::new(nats_sss_space(resolution, classes)))
            }
            SpaceName::File(path) => {
                let text = read_text_file(path, "space file")?;
                let shown = path.display().to_string();
                Space::Template(Arc::new(
                    space_from_toml(&text, &shown).map_err(StudyError::input)?,
                ))
            }
        })
    }

    /// As a trait object.
    pub fn dyn_space(&self) -> Arc<dyn SearchSpace> {
        match self {
            Space::Nb201(s) => s.clone(),
            Space::Template(s) => s.clone(),
        }
    }

    /// The network template, where the space is one.
    pub fn template(&self) -> Option<&Arc<TemplateSpace>> {
        match self {
            Space::Template(t) => Some(t),
            Space::Nb201(_) => None,
        }
    }
}

/// The study's tables, loaded once per process (cost model, evaluator and outcome all use them).
pub fn load_table(data: &DataSource) -> Result<Arc<Nb201Table>, StudyError> {
    static LOADED: Mutex<Vec<(PathBuf, Arc<Nb201Table>)>> = Mutex::new(Vec::new());
    let dir = match data {
        DataSource::Embedded => return Nb201Table::embedded().map_err(StudyError::input),
        DataSource::Dir(dir) => dir,
    };
    let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, table)) = loaded.iter().find(|(d, _)| d == dir) {
        return Ok(table.clone());
    }
    let table = Arc::new(Nb201Table::load(data).map_err(StudyError::input)?);
    loaded.push((dir.clone(), table.clone()));
    Ok(table)
}

/// The study's cost model over `space`.
pub fn cost_model(space: &Space, study: &Study) -> Result<Arc<dyn CostModel>, StudyError> {
    let name = study.cost.to_string();
    Ok(match (space, &study.cost) {
        (Space::Nb201(_), CostName::Flops | CostName::Params | CostName::TableLatency(_)) => {
            let table = load_table(&study.data)?;
            Arc::new(
                TableCost::new(&table, &name, study.dataset.shape()).map_err(StudyError::input)?,
            )
        }
        (Space::Template(t), CostName::Madds) => {
            Arc::new(NetworkCost::new(t.clone(), Metric::Madds))
        }
        (Space::Template(t), CostName::Params) => {
            Arc::new(NetworkCost::new(t.clone(), Metric::Params))
        }
        (Space::Template(t), CostName::LatencyFile(path)) => {
            let text = read_text_file(path, "latency table")?;
            let table: LatencyTable = serde_json::from_str(&text).map_err(|e| {
                StudyError::Input(format!("corrupt latency table {}: {e}", path.display()))
            })?;
            Arc::new(TableLatency::new(t.clone(), table, name).map_err(StudyError::Input)?)
        }
        // `CostName::parse` checked the cost against the kind of space.
        (space, cost) => {
            return Err(StudyError::Input(format!(
                "cost {cost} is not a cost of space {}",
                space.dyn_space().name()
            )))
        }
    })
}

/// A study's evaluator, and the timeout the executor must enforce (the command evaluator
/// enforces its own by killing the command).
#[derive(Clone)]
pub struct Built {
    /// The evaluator.
    pub evaluator: Arc<dyn Evaluator>,
    /// True for the benchmark table (reward and test are its columns).
    pub table: bool,
    /// The timeout the executor enforces (`None` where the evaluator enforces its own).
    pub executor_timeout: Option<Duration>,
    /// Whether trials report `sim_seconds` (the table's simulated training time).
    pub has_sim_time: bool,
}

/// The trial context every engine and command receives: the study, the data set the user
/// named, the cost, and (for the trainer's engines) the data location and the `[train]` recipe.
pub fn trial_context(study: &Study, with_recipe: bool) -> serde_json::Value {
    let mut context = serde_json::json!({
        "study": study.study,
        "dataset": study.dataset.name(),
    });
    // The user's data set: where it is and how to read it (the `[data]` table, resolved).
    if let Some(spec) = &study.data_spec {
        context["data"] = serde_json::json!(spec);
    }
    if with_recipe {
        context["data_dir"] = serde_json::json!(match &study.data {
            DataSource::Dir(d) => Some(d.clone()),
            DataSource::Embedded => None,
        });
        context["train"] = serde_json::json!(study.train);
    } else {
        context["cost"] = serde_json::json!(study.cost.to_string());
    }
    context
}

/// Builds the evaluator a study names (`table` by default where the space has a table).
pub fn build_evaluator(study: &Study, space: &Space) -> Result<Built, StudyError> {
    let timeout = study.trial_timeout.map(Duration::from_secs_f64);
    match (study.evaluator_kind(), space) {
        // The table is nb201's default evaluator.
        (Some(EvaluatorKind::Table) | None, Space::Nb201(_)) => {
            let e = table_evaluator(study)?;
            Ok(Built {
                has_sim_time: e.has_sim_time(),
                table: true,
                evaluator: Arc::new(e),
                executor_timeout: timeout,
            })
        }
        (Some(EvaluatorKind::Table) | None, Space::Template(t)) => Err(StudyError::Input(format!(
            "space {} has no benchmark table: choose --evaluator train (built-in trainer, --dataset fashion-mnist or --data PATH) or --evaluator command --command \"...\" (or --dry-run to see the LayerNAS plan)",
            t.name()
        ))),
        (Some(EvaluatorKind::Train), Space::Template(t)) => {
            if !matches!(study.dataset, StudyDataset::FashionMnist | StudyDataset::Files(_)) {
                return Err(StudyError::Input(format!(
                    "the built-in trainer trains on fashion-mnist or your data (--data PATH), not {} (use --dataset fashion-mnist)",
                    study.dataset.name()
                )));
            }
            if study.train.engine == Engine::Torch {
                return torch_evaluator(study, space, t, timeout);
            }
            let data = training_data(study, &study.train)?;
            Ok(Built {
                evaluator: Arc::new(TrainEvaluator::named(t.clone(), data, study.train.clone(), study.dataset.name())),
                table: false,
                executor_timeout: timeout,
                has_sim_time: false,
            })
        }
        (Some(EvaluatorKind::Train), Space::Nb201(_)) => Err(StudyError::Input(
            "the built-in trainer needs a network space (mobilenetv2, mobilenetv3-large, mobilenetv3-small, nats-sss or a .toml space); nb201 uses the table".into(),
        )),
        (Some(EvaluatorKind::Command), _) => {
            let command = study.command.clone().ok_or_else(|| {
                StudyError::Input("--evaluator command needs --command \"program args\"".into())
            })?;
            Ok(Built {
                evaluator: Arc::new(CommandEvaluator::new(
                    command,
                    space.dyn_space(),
                    space.template().cloned(),
                    trial_context(study, false),
                    timeout,
                )),
                executor_timeout: None,
                has_sim_time: false,
                table: false,
            })
        }
    }
}

/// The images the built-in trainer learns from with `recipe` (the study's `[train]` table, or
/// `layernas train`'s recipe): the user's data set (only the images the recipe uses, decoded
/// once and cached; see [`layernas_train::load`]) or Fashion-MNIST. Loaded once per process for
/// a data set and recipe.
pub fn training_data(study: &Study, recipe: &TrainConfig) -> Result<Arc<ImageData>, StudyError> {
    type Loaded = Vec<(String, Arc<ImageData>)>;
    static LOADED: Mutex<Loaded> = Mutex::new(Vec::new());
    let spec = match &study.data_spec {
        None => {
            let data = match &study.data {
                DataSource::Embedded => ImageData::embedded(),
                DataSource::Dir(dir) => ImageData::from_dir(dir),
            };
            return data.map(Arc::new).map_err(StudyError::input);
        }
        Some(spec) => spec,
    };
    let options = LoadOptions::for_recipe(recipe);
    let key = format!(
        "{}|{}|{}",
        serde_json::json!(spec),
        options.train_images,
        options.valid_images
    );
    let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, data)) = loaded.iter().find(|(k, _)| *k == key) {
        return Ok(data.clone());
    }
    let (data, _report) = layernas_train::load(spec, &options).map_err(StudyError::input)?;
    let data = Arc::new(data);
    loaded.push((key, data.clone()));
    Ok(data)
}

/// Where the `layernas-torch` program is: `$LAYERNAS_TORCH`, else beside this executable, else
/// on `PATH`.
pub fn torch_program() -> Result<PathBuf, StudyError> {
    let missing = |why: String| {
        StudyError::Input(format!(
            "engine torch runs the layernas-torch program, {why}: build it with `cargo build \
             --release --manifest-path torch/Cargo.toml` (needs libtorch 2.13; torch/README.md) \
             or set LAYERNAS_TORCH to its path"
        ))
    };
    if let Some(p) = std::env::var_os("LAYERNAS_TORCH") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(missing(format!(
                "but LAYERNAS_TORCH={} is no file",
                p.display()
            )))
        };
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join("layernas-torch")));
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("layernas-torch"))
                .collect()
        })
        .unwrap_or_default();
    beside
        .into_iter()
        .chain(on_path)
        .find(|p| p.is_file())
        .ok_or_else(|| missing("which is neither beside layernas nor on PATH".into()))
}

/// The libtorch engine: the `layernas-torch` program, run per trial through the command
/// protocol with the training recipe in the trial's `context`.
fn torch_evaluator(
    study: &Study,
    space: &Space,
    template: &Arc<TemplateSpace>,
    timeout: Option<Duration>,
) -> Result<Built, StudyError> {
    let program = torch_program()?;
    let quoted = format!("'{}'", program.display().to_string().replace('\'', "'\\''"));
    Ok(Built {
        evaluator: Arc::new(CommandEvaluator::new(
            quoted,
            space.dyn_space(),
            Some(template.clone()),
            trial_context(study, true),
            timeout,
        )),
        executor_timeout: None,
        has_sim_time: false,
        table: false,
    })
}

/// The table evaluator of a study (nb201).
pub fn table_evaluator(study: &Study) -> Result<TableEvaluator, StudyError> {
    let table = load_table(&study.data)?;
    TableEvaluator::new(
        &table,
        study.dataset.shape(),
        &study.reward_column,
        &study.test_column,
    )
    .and_then(|e| e.with_time_scale(study.sim_time_scale))
    .map_err(StudyError::input)
}

/// The strategy a study names, built over `space` and `cost` (LayerNAS or a baseline).
pub fn build_study_strategy(
    study: &Study,
    space: Arc<dyn SearchSpace>,
    cost: Arc<dyn CostModel>,
) -> Result<Box<dyn Strategy>, StudyError> {
    build_strategy(study.strategy.as_str(), &study.strategies, space, cost)
        .map_err(StudyError::input)
}

/// Whether a store URL names a SQLite file that does not exist (yet).
pub fn is_missing_file(url: &str) -> bool {
    url != "memory" && !url.contains("://") && !Path::new(url).exists()
}

/// Opens the study's store (memory when none is given) and its study, refusing a changed
/// configuration unless allowed. Returns the store and, for a resumed study, its trial count.
pub fn open_store(study: &Study) -> Result<(Box<dyn TrialStore>, Option<u64>), StudyError> {
    let mut store: Box<dyn TrialStore> = match &study.store {
        None => {
            if study.workers == 0 {
                return Err(StudyError::Input(
                    "--workers 0 leaves evaluation to `layernas worker` processes, which need a shared --store (SQLite file or postgres://...)".into(),
                ));
            }
            Box::new(MemoryStore::default())
        }
        Some(url) => layernas_store::open(url)?,
    };
    let resumed = match store.open_study(&study.spec(), study.allow_changed_config) {
        Ok(StudyOpen::Resumed { trials }) => Some(trials as u64),
        Ok(StudyOpen::Created) => None,
        Err(e @ StoreError::ConfigChanged { .. }) => return Err(StudyError::Input(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    Ok((store, resumed))
}

/// Opens an existing store (never creating one) for the commands over stored studies.
pub fn open_existing_store(url: &str) -> Result<Box<dyn TrialStore>, StudyError> {
    if is_missing_file(url) {
        return Err(StudyError::Input(format!("no store at {url}")));
    }
    Ok(layernas_store::open_existing(url)?)
}

/// Selects stored study `study` in `store` as it is (whatever its configuration).
pub fn select_stored(url: &str, study: &str, store: &mut dyn TrialStore) -> Result<(), StudyError> {
    let config = store
        .study_config(study)?
        .ok_or_else(|| StudyError::Input(format!("study {study} is not in store {url}")))?;
    let spec = layernas_core::StudySpec {
        name: study.into(),
        config,
        hash: String::new(),
    };
    store.open_study(&spec, true)?;
    Ok(())
}

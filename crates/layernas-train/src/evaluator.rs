use crate::model::build;
use crate::train::train;
use burn::prelude::Device;
use layernas_core::{EvalError, Evaluation, Evaluator, TrialRequest};
use layernas_proxy::{adapt, scale_depth, Engine, FashionMnist, TrainConfig, TrainResult};
use layernas_spaces::network::{Input, Network};
use layernas_spaces::TemplateSpace;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The backend's random generator is process-wide and parameters are initialised lazily, so
/// concurrent trials would draw from each other's seeds. Seeding, building and initialising
/// every parameter happen under this lock; training itself runs in parallel.
static INIT: Mutex<()> = Mutex::new(());

fn seeded_model(network: &Network, device: &Device, seed: u64) -> Result<crate::Net, EvalError> {
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    let model = build(network, device).map_err(|e| EvalError::Failed(e.to_string()))?;
    // Reading every parameter (as `valid` does) runs their lazy initialisers now.
    let _ = burn::module::Module::valid(&model);
    Ok(model)
}

/// The proxy network a trial trains: `network` with fewer repeated blocks (`depth`), adapted to
/// the dataset's input and classes and scaled by `width`.
pub fn proxy_network(
    network: &Network,
    data: &FashionMnist,
    config: &TrainConfig,
) -> Result<Network, EvalError> {
    let input = Input {
        resolution: data.train.rows as u32,
        channels: 1,
    };
    let shallow =
        scale_depth(network, config.depth).map_err(|e| EvalError::Failed(e.to_string()))?;
    adapt(&shallow, input, data.train.classes() as u32, config.width).map_err(|e| {
        EvalError::Failed(format!(
            "the network does not fit a {0}x{0} input: {e}",
            input.resolution
        ))
    })
}

/// Trains `network` (already a proxy) with the configured engine on a pool of
/// `config.threads` threads.
pub fn train_network(
    network: &Network,
    data: &FashionMnist,
    config: &TrainConfig,
    seed: u64,
) -> Result<TrainResult, EvalError> {
    config.validate().map_err(EvalError::Failed)?;
    match config.engine {
        Engine::Burn => {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(config.threads)
                .build()
                .map_err(|e| EvalError::Failed(format!("cannot start training threads: {e}")))?;
            pool.install(|| {
                let device = Device::flex().autodiff();
                let model = seeded_model(network, &device, seed)?;
                Ok(train(model, data, config, seed, &device))
            })
        }
        Engine::Torch => Err(EvalError::Failed(
            "the torch engine runs in the layernas-torch program (see torch/README.md), not in process"
                .into(),
        )),
    }
}

/// Trains each trial's network with the built-in trainer: reward = validation accuracy (%),
/// metrics `test` (%), `train_seconds`, `images_per_second`. The space's network is adapted to
/// the dataset's input and classes and scaled by the configured width and depth.
pub struct TrainEvaluator {
    space: Arc<TemplateSpace>,
    data: Arc<FashionMnist>,
    config: TrainConfig,
    name: String,
}

impl TrainEvaluator {
    /// A trainer for `space` on `data`.
    pub fn new(space: Arc<TemplateSpace>, data: Arc<FashionMnist>, config: TrainConfig) -> Self {
        TrainEvaluator {
            space,
            data,
            name: format!("train:fashion-mnist:{}", config.engine.name()),
            config,
        }
    }
}

impl Evaluator for TrainEvaluator {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, request: &TrialRequest<'_>) -> Result<Evaluation, EvalError> {
        let network = proxy_network(&self.space.network(request.arch), &self.data, &self.config)?;
        let r = train_network(&network, &self.data, &self.config, request.seed)?;
        let mut metrics = BTreeMap::new();
        metrics.insert("test".into(), r.test_accuracy);
        metrics.insert("train_seconds".into(), r.train_seconds);
        metrics.insert("images_per_second".into(), r.images_per_second);
        Ok(Evaluation {
            reward: r.valid_accuracy,
            metrics,
        })
    }
}

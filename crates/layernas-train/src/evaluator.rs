use crate::model::build;
use crate::train::train_cancellable;
use burn::prelude::Device;
use layernas_core::{
    Cancel, EvalError, Evaluation, Evaluator, Fidelity, TrialRequest, EPOCHS_METRIC,
};
use layernas_proxy::{Engine, FashionMnist, ImageData, TrainConfig, TrainResult, Weights};
use layernas_spaces::network::Network;
use layernas_spaces::TemplateSpace;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The backend's random generator is process-wide and parameters are initialised lazily, so
/// concurrent trials would draw from each other's seeds. Seeding, building and initialising
/// every parameter happen under this lock; training itself runs in parallel.
static INIT: Mutex<()> = Mutex::new(());

pub(crate) fn seeded_model(
    network: &Network,
    device: &Device,
    seed: u64,
) -> Result<crate::Net, EvalError> {
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(seed);
    let model = build(network, device).map_err(|e| EvalError::Failed(e.to_string()))?;
    // Reading every parameter (as `valid` does) runs their lazy initialisers now.
    let _ = burn::module::Module::valid(&model);
    Ok(model)
}

/// The weights a model of `network` starts from with `seed` (the trainer's initialisation, as a
/// trial's), named as the lowering names them: for exporting an untrained model (latency work).
pub fn initial_weights(network: &Network, seed: u64) -> Result<Weights, EvalError> {
    Ok(seeded_model(network, &Device::flex(), seed)?.weights())
}

/// The proxy network a trial trains: `network` with fewer repeated blocks (`depth`), adapted to
/// the dataset's input and classes and scaled by `width`.
pub fn proxy_network(
    network: &Network,
    data: &ImageData,
    config: &TrainConfig,
) -> Result<Network, EvalError> {
    layernas_proxy::proxy(network, data.input(), data.classes() as u32, config)
        .map_err(EvalError::Failed)
}

/// Trains `network` (already a proxy) with the configured engine on a pool of
/// `config.threads` threads.
pub fn train_network(
    network: &Network,
    data: &ImageData,
    config: &TrainConfig,
    seed: u64,
) -> Result<TrainResult, EvalError> {
    train_network_cancellable(network, data, config, seed, &Cancel::new())
}

/// [`train_network`], stopping with [`EvalError::Cancelled`] at the next batch once `cancel` is
/// set.
pub fn train_network_cancellable(
    network: &Network,
    data: &ImageData,
    config: &TrainConfig,
    seed: u64,
    cancel: &Cancel,
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
                train_cancellable(model, data, config, seed, &device, cancel)
            })
        }
        Engine::Torch => Err(EvalError::Failed(
            "the torch engine runs in the layernas-torch program (see torch/README.md), not in process"
                .into(),
        )),
    }
}

/// Trains each trial's network with the built-in trainer: reward = validation accuracy (%),
/// metrics `test` (%, where the data has test images and the recipe does not skip them), `train_seconds`, `images_per_second` and `epochs` (in epochs of the
/// recipe's training subset). A low-fidelity trial trains [`TrainConfig::at_low_fidelity`]. The space's network is adapted to
/// the dataset's input and classes and scaled by the configured width and depth.
pub struct TrainEvaluator {
    space: Arc<TemplateSpace>,
    data: Arc<FashionMnist>,
    config: TrainConfig,
    name: String,
}

impl TrainEvaluator {
    /// A trainer for `space` on `data` (Fashion-MNIST).
    pub fn new(space: Arc<TemplateSpace>, data: Arc<FashionMnist>, config: TrainConfig) -> Self {
        TrainEvaluator::named(space, data, config, "fashion-mnist")
    }

    /// A trainer for `space` on `data`, called `dataset` in the evaluator's name.
    pub fn named(
        space: Arc<TemplateSpace>,
        data: Arc<ImageData>,
        config: TrainConfig,
        dataset: &str,
    ) -> Self {
        TrainEvaluator {
            space,
            data,
            name: format!("train:{dataset}:{}", config.engine.name()),
            config,
        }
    }
}

impl Evaluator for TrainEvaluator {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, request: &TrialRequest<'_>) -> Result<Evaluation, EvalError> {
        self.evaluate_cancellable(request, &Cancel::new())
    }

    fn evaluate_cancellable(
        &self,
        request: &TrialRequest<'_>,
        cancel: &Cancel,
    ) -> Result<Evaluation, EvalError> {
        // A low-fidelity trial (multi-fidelity search) trains the shorter recipe.
        let low = (request.fidelity == Fidelity::Low).then(|| self.config.at_low_fidelity());
        let config = low.as_ref().unwrap_or(&self.config);
        let network = proxy_network(&self.space.network(request.arch), &self.data, config)?;
        let r = train_network_cancellable(&network, &self.data, config, request.seed, cancel)?;
        let mut metrics = BTreeMap::new();
        metrics.insert(EPOCHS_METRIC.into(), self.config.epochs_spent(low.as_ref()));
        if let Some(test) = r.test_accuracy {
            metrics.insert("test".into(), test);
        }
        metrics.insert("train_seconds".into(), r.train_seconds);
        metrics.insert("images_per_second".into(), r.images_per_second);
        Ok(Evaluation {
            reward: r.valid_accuracy,
            metrics,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use layernas_core::{evaluate_guarded, SearchSpace};
    use std::time::{Duration, Instant};

    const CNN: &str = r#"
name = "tiny"
classes = 10
input = { resolution = 28, channels = 1 }
[[layers]]
op = "conv"
out = [4, 8]
kernel = 3
stride = 2
[[layers]]
op = "global_pool"
[[layers]]
op = "linear"
"#;

    /// A trial given up on (timeout, lost lease) stops training at the next batch instead of
    /// running its epochs to the end on a thread nobody waits for.
    #[test]
    fn a_cancelled_or_timed_out_training_stops_promptly() {
        let space = Arc::new(layernas_spaces::space_from_toml(CNN, "tiny.toml").unwrap());
        let data = Arc::new(FashionMnist::embedded().unwrap());
        let config = TrainConfig {
            epochs: 10_000, // hours: only cancellation ends it in time
            train_subset: 1000,
            valid_size: 100,
            batch_size: 16,
            threads: 1,
            ..TrainConfig::default()
        };
        let eval: Arc<dyn Evaluator> = Arc::new(TrainEvaluator::new(space.clone(), data, config));
        let arch = space.default_arch();

        // Cancelled directly: the training function returns within a bound.
        let cancel = Cancel::new();
        let (tx, rx) = std::sync::mpsc::channel();
        {
            let (eval, arch, cancel) = (eval.clone(), arch.clone(), cancel.clone());
            std::thread::spawn(move || {
                let request = TrialRequest {
                    id: 0,
                    arch: &arch,
                    seed: 1,
                    fidelity: Fidelity::Full,
                };
                let _ = tx.send(eval.evaluate_cancellable(&request, &cancel));
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        let asked = Instant::now();
        cancel.cancel();
        let result = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("training went on after it was cancelled");
        assert_eq!(result, Err(EvalError::Cancelled));
        eprintln!(
            "stopped {:.3} s after cancel",
            asked.elapsed().as_secs_f64()
        );

        // Through the executor's guard: a timeout cancels the evaluation it abandons.
        let outer = Cancel::new();
        let started = Instant::now();
        let r = evaluate_guarded(&eval, 1, &arch, 2, Some(Duration::from_millis(200)), &outer);
        assert!(matches!(r, Err(EvalError::Timeout(_))), "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}

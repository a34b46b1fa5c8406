use crate::data::FashionMnist;
use crate::model::{adapt, build};
use crate::train::{train, TrainConfig};
use burn::prelude::Device;
use layernas_core::{EvalError, Evaluation, Evaluator, TrialRequest};
use layernas_spaces::network::Input;
use layernas_spaces::TemplateSpace;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The backend's random generator is process-wide and parameters are initialised lazily, so
/// concurrent trials would draw from each other's seeds. Seeding, building and initialising
/// every parameter happen under this lock; training itself runs in parallel.
static INIT: Mutex<()> = Mutex::new(());

fn seeded_model(
    network: &layernas_spaces::network::Network,
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

/// Trains each trial's network with the built-in trainer: reward = validation accuracy (%),
/// metrics `test` (%), `train_seconds`, `images_per_second`. The space's network is adapted to
/// the dataset's input and classes and scaled by the configured width.
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
            config,
            name: "train:fashion-mnist".into(),
        }
    }
}

impl Evaluator for TrainEvaluator {
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, request: &TrialRequest<'_>) -> Result<Evaluation, EvalError> {
        let input = Input {
            resolution: self.data.train.rows as u32,
            channels: 1,
        };
        let network = adapt(
            &self.space.network(request.arch),
            input,
            self.data.train.classes() as u32,
            self.config.width,
        )
        .map_err(|e| {
            EvalError::Failed(format!(
                "the network does not fit a {0}x{0} input: {e}",
                input.resolution
            ))
        })?;
        let device = Device::flex().autodiff();
        let model = seeded_model(&network, &device, request.seed)?;
        let r = train(model, &self.data, &self.config, request.seed, &device);
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

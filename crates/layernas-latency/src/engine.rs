//! The engines that run a network for timing, one forward pass at batch 1 per call.

use crate::LatencyError;
use burn::prelude::{Device, Tensor};
use layernas_spaces::network::Network;
use layernas_train::Net;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use tract_onnx::prelude::{tvec, TValue, Tensor as TractTensor, TractError, TypedSimpleState};

/// What runs the networks that are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// The built-in trainer's engine: burn's pure-Rust Flex CPU backend.
    #[default]
    Burn,
    /// tract, a pure-Rust ONNX runtime one deploys on CPUs and ARM boards: each network is the
    /// ONNX graph `layernas export-model` writes, optimised by tract for batch 1.
    Tract,
}

impl Engine {
    /// Every engine.
    pub const ALL: [Engine; 2] = [Engine::Burn, Engine::Tract];

    /// The engine's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Burn => "burn",
            Engine::Tract => "tract",
        }
    }

    /// What measures, as a latency table records it.
    pub fn description(self) -> &'static str {
        match self {
            Engine::Burn => "burn 0.22.1 Flex CPU, batch 1, single thread",
            Engine::Tract => {
                "tract-onnx 0.23 (ONNX opset 13, optimised plan), batch 1, single thread"
            }
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Engine::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| format!("unknown engine {s:?}: burn or tract"))
    }
}

/// What of a network one call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The layers only: the last layer's map (how one layer configuration is timed).
    Layers,
    /// The whole model, logits included (how a deployed network runs).
    Model,
}

/// One prepared network: each call runs it once on one image and waits for the result.
pub trait Runner {
    /// Runs one forward pass.
    fn run(&mut self) -> Result<(), LatencyError>;
}

/// Prepares `network` on `engine` (weights drawn from `seed`, as a fresh model has them).
pub fn prepare(
    engine: Engine,
    network: &Network,
    part: Part,
    seed: u64,
) -> Result<Box<dyn Runner>, LatencyError> {
    match engine {
        Engine::Burn => Ok(Box::new(BurnRunner::new(network, part, seed)?)),
        Engine::Tract => Ok(Box::new(TractRunner::new(network, part, seed)?)),
    }
}

struct BurnRunner {
    net: Net,
    x: Tensor<4>,
    part: Part,
}

impl BurnRunner {
    fn new(network: &Network, part: Part, seed: u64) -> Result<Self, LatencyError> {
        let device = Device::flex();
        device.seed(seed);
        let net = layernas_train::build(network, &device)?;
        let (c, r) = (
            network.input.channels as usize,
            network.input.resolution as usize,
        );
        let x = Tensor::<4>::ones([1, c, r, r], &device);
        Ok(BurnRunner { net, x, part })
    }
}

impl Runner for BurnRunner {
    fn run(&mut self) -> Result<(), LatencyError> {
        // Reading one value waits for the result without timing a copy of the whole output
        // (whose size differs from layer to layer and which a network never makes between
        // its layers).
        match self.part {
            Part::Layers => {
                let y = self.net.forward_map(self.x.clone());
                let _ = y.slice([0..1, 0..1, 0..1, 0..1]).into_data();
            }
            Part::Model => {
                let y = self.net.forward(self.x.clone());
                let _ = y.slice([0..1, 0..1]).into_data();
            }
        }
        Ok(())
    }
}

struct TractRunner {
    state: TypedSimpleState,
    input: TValue,
}

impl TractRunner {
    fn new(network: &Network, part: Part, seed: u64) -> Result<Self, LatencyError> {
        let weights = layernas_train::initial_weights(network, seed)
            .map_err(|e| LatencyError::Engine(e.to_string()))?;
        let model = match part {
            Part::Layers => layernas_onnx::export_features(network, &weights)?,
            Part::Model => layernas_onnx::export(network, &weights)?,
        };
        let bytes = model.to_bytes();
        let (c, r) = (
            network.input.channels as usize,
            network.input.resolution as usize,
        );
        use tract_onnx::prelude::{DatumExt, Framework, InferenceModelExt, IntoRunnable};
        let tract = |e: TractError| LatencyError::Engine(format!("tract: {e}"));
        let plan = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .map_err(tract)?
            .with_input_fact(0, f32::fact([1, c, r, r]).into())
            .map_err(tract)?
            .into_optimized()
            .map_err(tract)?
            .into_runnable()
            .map_err(tract)?;
        let state = plan.spawn().map_err(tract)?;
        let input: TValue = TractTensor::from_shape(&[1, c, r, r], &vec![1f32; c * r * r])
            .map_err(tract)?
            .into();
        Ok(TractRunner { state, input })
    }
}

impl Runner for TractRunner {
    fn run(&mut self) -> Result<(), LatencyError> {
        self.state
            .run(tvec![self.input.clone()])
            .map_err(|e| LatencyError::Engine(format!("tract: {e}")))?;
        Ok(())
    }
}

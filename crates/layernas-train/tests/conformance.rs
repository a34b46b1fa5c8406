//! The burn engine runs the engine conformance suite of `layernas-proxy` (the libtorch engine
//! runs the same suite in `torch/tests`): the same parameter counts and block shapes as the one
//! lowering, one result per seed, and the suite's accuracy floor.

use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use layernas_proxy::conformance::{check_engine, TrainEngine};
use layernas_spaces::network::Network;
use layernas_train::{build, train_network, FashionMnist, TrainConfig, TrainResult};

struct Burn;

struct Trainable(u64);

impl ModuleVisitor for Trainable {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        if value.is_require_grad() {
            self.0 += value.shape().num_elements() as u64;
        }
    }
}

impl TrainEngine for Burn {
    fn name(&self) -> &str {
        "burn"
    }

    fn params(&self, network: &Network) -> Result<u64, String> {
        // Trainable parameters: on an autodiff device, the tensors that take gradients (burn's
        // `num_params` also counts batch norm's running statistics).
        let model = build(network, &Device::flex().autodiff()).map_err(|e| e.to_string())?;
        let mut count = Trainable(0);
        model.visit(&mut count);
        Ok(count.0)
    }

    fn shapes(
        &self,
        network: &Network,
        batch: usize,
    ) -> Result<(Vec<[usize; 3]>, [usize; 2]), String> {
        let device = Device::flex();
        let model = build(network, &device).map_err(|e| e.to_string())?;
        let i = network.input;
        let (c, r) = (i.channels as usize, i.resolution as usize);
        let x = Tensor::<4>::zeros([batch, c, r, r], &device);
        Ok(model.shapes(x))
    }

    fn train(
        &self,
        network: &Network,
        data: &FashionMnist,
        config: &TrainConfig,
        seed: u64,
    ) -> Result<TrainResult, String> {
        train_network(network, data, config, seed).map_err(|e| e.to_string())
    }
}

#[test]
fn the_burn_engine_conforms() {
    check_engine(&Burn);
}

//! The libtorch engine runs the engine conformance suite of `layernas-proxy`, the suite the
//! burn engine runs in CI (`crates/layernas-train/tests/conformance.rs`): the same parameter
//! counts and block shapes as the one lowering, one result per seed on the CPU, and the
//! suite's accuracy floor.

use layernas_proxy::conformance::{check_engine, TrainEngine};
use layernas_proxy::{FashionMnist, TrainConfig, TrainResult};
use layernas_spaces::network::Network;
use layernas_torch::TorchNet;
use tch::{nn, Device, Kind, Tensor};

struct Torch;

impl TrainEngine for Torch {
    fn name(&self) -> &str {
        "torch"
    }

    fn params(&self, network: &Network) -> Result<u64, String> {
        let vs = nn::VarStore::new(Device::Cpu);
        TorchNet::build(network, &vs.root())?;
        Ok(vs
            .trainable_variables()
            .iter()
            .map(|t| t.numel() as u64)
            .sum())
    }

    fn shapes(
        &self,
        network: &Network,
        batch: usize,
    ) -> Result<(Vec<[usize; 3]>, [usize; 2]), String> {
        let vs = nn::VarStore::new(Device::Cpu);
        let model = TorchNet::build(network, &vs.root())?;
        let i = network.input;
        let (c, r) = (i.channels as i64, i.resolution as i64);
        let x = Tensor::zeros([batch as i64, c, r, r], (Kind::Float, Device::Cpu));
        Ok(tch::no_grad(|| model.shapes(&x)))
    }

    fn train(
        &self,
        network: &Network,
        data: &FashionMnist,
        config: &TrainConfig,
        seed: u64,
    ) -> Result<TrainResult, String> {
        layernas_torch::train(network, data, config, seed)
    }
}

#[test]
fn the_torch_engine_conforms() {
    check_engine(&Torch);
}

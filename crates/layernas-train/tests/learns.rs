//! The built-in trainer learns, is deterministic for a seed, and builds every op of the schema.

use layernas_core::{Evaluator, Fidelity, SearchSpace, TrialRequest};
use layernas_spaces::{mobilenet_v2_space, mobilenet_v3_space, nats_sss_space, space_from_toml};
use layernas_train::{
    proxy_network, scale_depth, train_network, FashionMnist, TrainConfig, TrainEvaluator,
};
use std::sync::Arc;

const CNN: &str = r#"
name = "cnn"
classes = 10
input = { resolution = 28, channels = 1 }
[[layers]]
op = "conv"
out = [8, 16]
kernel = 3
stride = 2
[[layers]]
op = "mbconv"
out = 16
kernel = [3, 5]
expand = 2
se = [false, true]
act = "hswish"
[[layers]]
op = "conv"
out = 32
kernel = 3
stride = 2
[[layers]]
op = "global_pool"
[[layers]]
op = "linear"
"#;

fn quick() -> TrainConfig {
    TrainConfig {
        epochs: 2,
        train_subset: 3000,
        valid_size: 500,
        batch_size: 32,
        learning_rate: 0.05,
        ..TrainConfig::default()
    }
}

#[test]
fn a_short_run_learns_far_above_chance_and_is_deterministic() {
    let space = Arc::new(space_from_toml(CNN, "cnn.toml").unwrap());
    let data = Arc::new(FashionMnist::embedded().unwrap());
    let eval = TrainEvaluator::new(space.clone(), data, quick());
    let arch = space.default_arch();
    let run = || {
        eval.evaluate(&TrialRequest {
            id: 0,
            arch: &arch,
            seed: 3,
            fidelity: Fidelity::Full,
        })
        .unwrap()
    };
    let a = run();
    eprintln!(
        "valid {:.2} test {:.2} in {:.1} s ({:.0} img/s)",
        a.reward, a.metrics["test"], a.metrics["train_seconds"], a.metrics["images_per_second"]
    );
    assert!(
        a.reward > 50.0,
        "validation accuracy {} is not far above chance (10%)",
        a.reward
    );
    assert!(a.metrics["test"] > 50.0);
    let b = run();
    assert_eq!(
        (a.reward, a.metrics["test"]),
        (b.reward, b.metrics["test"]),
        "not deterministic"
    );
    // A recipe that skips the test set trains the same network to the same reward and
    // reports no test accuracy.
    let skips = TrainConfig {
        skip_test: true,
        ..quick()
    };
    let c = TrainEvaluator::new(
        space.clone(),
        Arc::new(FashionMnist::embedded().unwrap()),
        skips,
    )
    .evaluate(&TrialRequest {
        id: 0,
        arch: &arch,
        seed: 3,
        fidelity: Fidelity::Full,
    })
    .unwrap();
    assert_eq!(
        c.reward, a.reward,
        "skipping the test set changed the reward"
    );
    assert!(!c.metrics.contains_key("test"), "{:?}", c.metrics);
}

#[test]
fn nats_and_mobilenet_networks_build_and_train_a_step() {
    let data = Arc::new(FashionMnist::embedded().unwrap());
    let tiny = TrainConfig {
        epochs: 1,
        train_subset: 64,
        valid_size: 100,
        batch_size: 32,
        width: 0.25,
        optimizer: layernas_train::OptimizerKind::Adam,
        schedule: layernas_train::Schedule::Constant,
        learning_rate: 0.001,
        ..TrainConfig::default()
    };
    let nats = Arc::new(nats_sss_space(32, 10));
    let v3 = Arc::new(mobilenet_v3_space(false));
    for (space, arch) in [
        (nats.clone(), nats.parse("8:16:24:32:40").unwrap()),
        (v3.clone(), v3.backbone().unwrap().clone()),
    ] {
        let e = TrainEvaluator::new(space.clone(), data.clone(), tiny.clone())
            .evaluate(&TrialRequest {
                id: 1,
                arch: &arch,
                seed: 1,
                fidelity: Fidelity::Full,
            })
            .unwrap();
        assert!(
            e.reward.is_finite() && e.metrics["test"].is_finite(),
            "{}",
            space.name()
        );
    }
}

#[test]
fn concurrent_trials_give_the_same_results_as_sequential_ones() {
    let space = Arc::new(space_from_toml(CNN, "cnn.toml").unwrap());
    let data = Arc::new(FashionMnist::embedded().unwrap());
    let config = TrainConfig {
        epochs: 1,
        train_subset: 300,
        valid_size: 200,
        batch_size: 50,
        ..TrainConfig::default()
    };
    let eval = Arc::new(TrainEvaluator::new(space.clone(), data, config));
    let arch = space.default_arch();
    let one = |seed: u64| {
        let e = eval
            .evaluate(&TrialRequest {
                id: 0,
                arch: &arch,
                seed,
                fidelity: Fidelity::Full,
            })
            .unwrap();
        (e.reward, e.metrics["test"])
    };
    let alone = one(11);
    let (together, _) = std::thread::scope(|s| {
        let a = s.spawn(|| one(11));
        let b = s.spawn(|| one(12));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(alone, together);
}

#[test]
fn two_threads_are_deterministic_for_a_seed() {
    let space = Arc::new(space_from_toml(CNN, "cnn.toml").unwrap());
    let data = Arc::new(FashionMnist::embedded().unwrap());
    let config = TrainConfig {
        epochs: 1,
        train_subset: 256,
        valid_size: 200,
        threads: 2,
        ..quick()
    };
    let eval = TrainEvaluator::new(space.clone(), data, config);
    let arch = space.default_arch();
    let run = || {
        let e = eval
            .evaluate(&TrialRequest {
                id: 0,
                arch: &arch,
                seed: 5,
                fidelity: Fidelity::Full,
            })
            .unwrap();
        (e.reward, e.metrics["test"])
    };
    assert_eq!(run(), run(), "two-thread training is not deterministic");
}

#[test]
fn the_depth_proxy_drops_repeated_blocks_and_keeps_every_stage() {
    let v2 = mobilenet_v2_space();
    let net = v2.network(v2.backbone().unwrap());
    let full = net.layer_costs().unwrap();
    assert_eq!(scale_depth(&net, 1.0).unwrap(), net);
    // MobileNetV2's stages repeat (1, 2, 3, 4, 3, 3, 1) blocks: residual runs of 1, 2, 3, 2, 2.
    // At depth 0.5 they keep 0, 1, 1, 1, 1 of them: 6 blocks go.
    let half = scale_depth(&net, 0.5).unwrap();
    let rows = half.layer_costs().unwrap();
    assert_eq!(rows.len(), full.len() - 6);
    assert_eq!(rows.last().unwrap().out_channels, 1000);
    assert!(half.totals().unwrap().madds < net.totals().unwrap().madds);
    // The smallest depth keeps only the shape-changing blocks; the proxy still trains.
    let tiny = scale_depth(&net, 0.01).unwrap();
    assert_eq!(tiny.layer_costs().unwrap().len(), full.len() - 10);
    let data = Arc::new(FashionMnist::embedded().unwrap());
    let config = TrainConfig {
        epochs: 1,
        train_subset: 64,
        valid_size: 100,
        batch_size: 32,
        width: 0.25,
        depth: 0.34,
        ..TrainConfig::default()
    };
    let proxy = proxy_network(&net, &data, &config).unwrap();
    assert_eq!(proxy.input.resolution, 28);
    let r = train_network(&proxy, &data, &config, 0).unwrap();
    assert!(r.valid_accuracy.is_finite());
}

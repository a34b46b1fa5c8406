//! Every exported model is loaded by tract (an ONNX runtime in pure Rust) from its file, and
//! its logits are compared with the trainer's own forward pass (burn, eval mode) on the same
//! images: every op, every activation, and every built-in space's backbone.

mod common;

use common::*;
use layernas_onnx::{export, export_features, FEATURES, INPUT, OPSET, OUTPUT};
use layernas_proxy::Weights;
use layernas_spaces::network::Network;
use std::path::Path;
use tract_onnx::prelude::*;

/// Runs the ONNX file at `path` with tract on `images` (`batch` of them).
fn tract_logits(path: &Path, network: &Network, images: &[f32], batch: usize) -> Vec<f32> {
    let model = tract_onnx::onnx()
        .model_for_path(path)
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let i = network.input;
    let (c, r) = (i.channels as usize, i.resolution as usize);
    let input = tract_ndarray::Array4::from_shape_vec((batch, c, r, r), images.to_vec()).unwrap();
    let out = model.run(tvec!(Tensor::from(input).into())).unwrap();
    let view = out[0].to_plain_array_view::<f32>().unwrap();
    let classes = layernas_proxy::lower(network).unwrap().classes;
    assert_eq!(view.shape(), &[batch, classes][..]);
    view.iter().copied().collect()
}

/// Exports `network` with `weights` to a file, runs it with tract at two batch sizes (the batch
/// is dynamic) and returns the largest difference from the trainer's logits.
fn check(name: &str, network: &Network, weights: &Weights) -> f32 {
    check_batches(name, network, weights, &[4, 1])
}

/// [`check`] at the batch sizes `batches`.
fn check_batches(name: &str, network: &Network, weights: &Weights, batches: &[usize]) -> f32 {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    export(network, weights).unwrap().write(&path).unwrap();
    let mut worst = 0f32;
    for (seed, &batch) in batches.iter().enumerate() {
        let seed = seed as u64 + 1;
        let images = images(network, batch, seed);
        let expected = burn_logits(network, weights, &images, batch);
        let got = tract_logits(&path, network, &images, batch);
        let (diff, scale) = max_abs_diff(&expected, &got);
        eprintln!(
            "{name}: batch {batch}: max |burn - tract| = {diff:.3e} (largest logit {scale:.3})"
        );
        assert!(
            diff <= TOLERANCE,
            "{name}: tract's logits differ from burn's by {diff} (> {TOLERANCE})"
        );
        worst = worst.max(diff);
    }
    worst
}

#[test]
fn every_op_matches_the_trainer() {
    for (name, network) in op_networks() {
        check(&name, &network, &weights(&network, 7));
    }
}

#[test]
fn every_activation_matches_the_trainer() {
    for (name, network) in activation_networks() {
        check(&name, &network, &weights(&network, 11));
    }
}

#[test]
fn every_built_in_backbone_matches_the_trainer() {
    for (name, network) in backbone_networks() {
        check(&name, &network, &weights(&network, 3));
    }
}

/// The backbones as `layernas export-model --space NAME --arch backbone` exports them: full
/// width and depth, at the space's own input (224x224 RGB and 1,000 classes for MobileNets).
#[test]
fn every_built_in_backbone_at_full_size_matches_the_trainer() {
    for (name, network) in full_backbone_networks() {
        check_batches(&name, &network, &weights(&network, 5), &[2, 1]);
    }
}

#[test]
fn a_model_after_training_steps_matches_the_trainer() {
    use burn::nn::loss::CrossEntropyLossConfig;
    use burn::optim::{GradientsParams, SgdConfig};
    use burn::prelude::*;
    // Running statistics and weights as training leaves them (not drawn at random).
    let network = op_networks().swap_remove(1).1;
    let device = Device::flex().autodiff();
    let mut model = {
        let _seeded = seed_lock();
        device.seed(5);
        layernas_train::build(&network, &device).unwrap()
    };
    let before = model.weights();
    let mut optim = SgdConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let (batch, r) = (16, network.input.resolution as usize);
    for step in 0..3 {
        let x = Tensor::<4>::from_data(
            TensorData::new(images(&network, batch, step), [batch, 1, r, r]),
            &device,
        );
        let labels: Vec<i64> = (0..batch as i64)
            .map(|i| (i * 7 + step as i64) % 10)
            .collect();
        let y = Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), &device);
        let loss = loss_fn.forward(model.forward(x), y);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.05, model, grads);
    }
    let trained = model.valid().weights();
    let moved = |name: &str| before.get(name).unwrap() != trained.get(name).unwrap();
    assert!(moved("0.bn.running_mean") && moved("0.bn.running_var"));
    assert!(moved("1.se_reduce.weight") && moved("6.linear.weight"));
    let diff = check("mbconv network after 3 SGD steps", &network, &trained);
    assert!(diff <= TOLERANCE);
}

/// A graph of the layers only (what `layernas profile --engine tract` times) gives the map the
/// trainer's `forward_map` gives, for every op network and for each op on its own.
#[test]
fn a_graph_of_the_layers_gives_the_trainers_map() {
    use burn::prelude::{Device, Tensor as BurnTensor, TensorData};
    let mut networks = op_networks();
    for (name, network) in op_networks() {
        for (i, op) in network.layers.iter().enumerate() {
            let rows = network.layer_costs().unwrap();
            networks.push((
                format!("{name}: layer {i} alone"),
                Network {
                    input: layernas_spaces::network::Input {
                        resolution: rows[i].input,
                        channels: rows[i].in_channels,
                    },
                    layers: vec![op.clone()],
                    classes: network.classes,
                },
            ));
        }
    }
    for (name, network) in networks {
        let weights = weights(&network, 9);
        let images = images(&network, 2, 4);
        let device = Device::flex();
        let built = {
            let _seeded = seed_lock();
            layernas_train::build(&network, &device).unwrap()
        };
        let net = built.with_weights(&weights).unwrap();
        let (c, r) = (
            network.input.channels as usize,
            network.input.resolution as usize,
        );
        let x = BurnTensor::<4>::from_data(TensorData::new(images.clone(), [2, c, r, r]), &device);
        let expected = net.forward_map(x);
        let dims = expected.dims();
        let expected: Vec<f32> = expected.into_data().try_into_vec_as::<f32>().unwrap();

        let model = export_features(&network, &weights).unwrap();
        let graph = model.proto().graph.as_ref().unwrap();
        assert_eq!(graph.output[0].name.as_deref(), Some(FEATURES), "{name}");
        let bytes = model.to_bytes();
        let plan = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        let input = tract_ndarray::Array4::from_shape_vec((2, c, r, r), images).unwrap();
        let out = plan.run(tvec!(Tensor::from(input).into())).unwrap();
        let view = out[0].to_plain_array_view::<f32>().unwrap();
        assert_eq!(view.shape(), &dims[..], "{name}");
        let got: Vec<f32> = view.iter().copied().collect();
        let (diff, _) = max_abs_diff(&expected, &got);
        assert!(diff <= TOLERANCE, "{name}: map differs by {diff}");
    }
}

#[test]
fn the_model_declares_its_interface() {
    let network = op_networks().swap_remove(0).1;
    let model = export(&network, &weights(&network, 1)).unwrap();
    let proto = model.proto();
    assert_eq!(proto.opset_import[0].version, Some(OPSET));
    let graph = proto.graph.as_ref().unwrap();
    assert_eq!(graph.input.len(), 1);
    assert_eq!(graph.input[0].name.as_deref(), Some(INPUT));
    assert_eq!(graph.output[0].name.as_deref(), Some(OUTPUT));
    // tract reads the same declaration back: a symbolic batch and fixed image dimensions.
    let bytes = model.to_bytes();
    let read = tract_onnx::onnx()
        .model_for_read(&mut bytes.as_slice())
        .unwrap();
    let fact = format!("{:?}", read.input_fact(0).unwrap());
    assert!(fact.contains("batch") && fact.contains("1,28,28"), "{fact}");
    let network_json = &proto.metadata_props[0];
    assert_eq!(network_json.key.as_deref(), Some("layernas.network"));
    let back: Network = serde_json::from_str(network_json.value.as_deref().unwrap()).unwrap();
    assert_eq!(back, network);
}

#[test]
fn weights_of_another_network_are_refused_with_the_tensor_named() {
    let nets = op_networks();
    let err = export(&nets[0].1, &weights(&nets[1].1, 1))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "the weights do not fit the network: weight 1.conv.weight is missing"
    );
}

//! A trained [`Net`]'s weights as `model.safetensors`, each tensor named after the lowering's
//! block and part (`3.conv.weight`, `5.expand.bn.running_var`, `5.se_reduce.weight`,
//! `7.short.weight`, `9.linear.weight`): the names of the libtorch engine's `VarStore`, so a
//! file either engine writes holds the same tensors. Batch norm's `gamma`/`beta` are written as
//! `weight`/`bias`, and a fully connected weight as `[out, in]` (burn keeps it `[in, out]`), as
//! PyTorch stores them. Every tensor is `f32`.
//!
//! The names come from burn's own module paths (`layers.5.Mb.se.reduce.weight`), translated by
//! [`lowering_name`], so this module needs nothing private of the model.

use crate::model::Net;
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;

/// A tensor: shape and values, row-major.
pub type Tensor32 = (Vec<usize>, Vec<f32>);

/// Collects every float tensor (parameters and running statistics) by module path.
#[derive(Default)]
struct Collector {
    path: Vec<String>,
    tensors: Vec<(String, Tensor32)>,
}

impl ModuleVisitor for Collector {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        let shape = value.dims().to_vec();
        let data = value
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("a converted tensor reads as f32");
        self.tensors.push((self.path.join("."), (shape, data)));
    }
}

/// The lowering's name of burn module path `path` (`layers.<block>.<Variant>.<fields>`), or
/// `None` for a path outside the layers.
pub fn lowering_name(path: &str) -> Option<String> {
    let rest = path.strip_prefix("layers.")?;
    let (block, rest) = rest.split_once('.')?;
    // Drop the layer's variant (`Conv`, `Mb`, `Cell`, `Res`, `Dense`, `BnAct`).
    let (_, fields) = rest.split_once('.')?;
    let fields = fields
        .replacen("se.reduce.", "se_reduce.", 1)
        .replacen("se.expand.", "se_expand.", 1)
        .replacen("short_conv.", "short.", 1)
        .replacen("short_rcb.", "short.", 1);
    let fields = match fields.rsplit_once('.') {
        Some((head, "gamma")) => format!("{head}.weight"),
        Some((head, "beta")) => format!("{head}.bias"),
        _ => fields,
    };
    Some(format!("{block}.{fields}"))
}

/// Every tensor of `net`, by its lowering name (fully connected weights as `[out, in]`).
pub fn named_tensors(net: &Net) -> BTreeMap<String, Tensor32> {
    let mut collector = Collector::default();
    net.visit(&mut collector);
    collector
        .tensors
        .into_iter()
        .filter_map(|(path, (shape, data))| {
            let name = lowering_name(&path)?;
            if name.ends_with(".linear.weight") && shape.len() == 2 {
                let (rows, cols) = (shape[0], shape[1]);
                let mut t = vec![0f32; data.len()];
                for r in 0..rows {
                    for c in 0..cols {
                        t[c * rows + r] = data[r * cols + c];
                    }
                }
                return Some((name, (vec![cols, rows], t)));
            }
            Some((name, (shape, data)))
        })
        .collect()
}

/// Writes `net`'s weights to `path` as safetensors (metadata `format: layernas`).
pub fn save(net: &Net, path: &Path) -> Result<(), String> {
    let tensors = named_tensors(net);
    let bytes: Vec<Vec<u8>> = tensors
        .values()
        .map(|(_, d)| d.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, (shape, _)), b)| {
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b)
                .map(|view| (name.as_str(), view))
                .map_err(|e| format!("tensor {name}: {e}"))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let metadata = Some(std::collections::HashMap::from([(
        "format".to_string(),
        "layernas".to_string(),
    )]));
    let encoded = safetensors::serialize(views, metadata).map_err(|e| e.to_string())?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, encoded).map_err(|e| e.to_string())?;
    std::fs::rename(&tmp, path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::build;
    use layernas_proxy::{conformance, lower, Block};

    #[test]
    fn burn_paths_become_lowering_names() {
        for (path, name) in [
            ("layers.0.Conv.conv.weight", "0.conv.weight"),
            ("layers.0.Conv.bn.gamma", "0.bn.weight"),
            ("layers.0.Conv.bn.beta", "0.bn.bias"),
            (
                "layers.3.Mb.expand.bn.running_var",
                "3.expand.bn.running_var",
            ),
            ("layers.3.Mb.se.reduce.weight", "3.se_reduce.weight"),
            ("layers.3.Mb.se.expand.bias", "3.se_expand.bias"),
            ("layers.4.Res.short_conv.weight", "4.short.weight"),
            ("layers.4.Res.short_rcb.bn.gamma", "4.short.bn.weight"),
            ("layers.6.Dense.linear.weight", "6.linear.weight"),
            ("layers.2.BnAct.bn.running_mean", "2.bn.running_mean"),
        ] {
            assert_eq!(lowering_name(path).as_deref(), Some(name), "{path}");
        }
    }

    /// On networks covering every op: each tensor is named after a block of the lowering and
    /// one of its parts, and the trainable ones add up to the lowering's parameter count.
    #[test]
    fn every_tensor_is_named_after_its_block() {
        for network in conformance::networks() {
            let lowered = lower(&network).unwrap();
            let net = build(&network, &Device::flex()).unwrap();
            let tensors = named_tensors(&net);
            let mut trainable = 0;
            for (name, (shape, data)) in &tensors {
                assert_eq!(shape.iter().product::<usize>(), data.len(), "{name}");
                let (block, part) = name.split_once('.').unwrap();
                let block: usize = block.parse().unwrap();
                let parts: Vec<&str> = match &lowered.blocks[block] {
                    Block::Conv(_) => vec!["conv", "bn"],
                    Block::BnAct { .. } => vec!["bn"],
                    Block::Linear { .. } => vec!["linear"],
                    other => other.convs().iter().map(|(p, _)| *p).collect(),
                };
                let first = part.split('.').next().unwrap();
                assert!(parts.contains(&first), "{name} in {parts:?}");
                if !name.contains(".running_") {
                    trainable += data.len();
                }
            }
            assert_eq!(trainable as u64, lowered.params(), "{network:?}");
        }
    }
}

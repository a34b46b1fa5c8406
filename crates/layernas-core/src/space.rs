use crate::Arch;
use serde::Serialize;

/// Why an architecture or a space definition was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpaceError {
    /// The text is not an architecture of this space.
    #[error("cannot parse architecture {text:?} for space {space}: {reason}")]
    Parse {
        /// Space name.
        space: String,
        /// The offending text.
        text: String,
        /// What is wrong, with the allowed values.
        reason: String,
    },
    /// The architecture has the wrong number of layers or an option out of range.
    #[error("architecture {arch} is not in space {space}: {reason}")]
    NotInSpace {
        /// Space name.
        space: String,
        /// Architecture key.
        arch: String,
        /// What is wrong.
        reason: String,
    },
    /// The space definition itself is invalid.
    #[error("invalid search space {space}: {reason}")]
    Invalid {
        /// Space name.
        space: String,
        /// What is wrong.
        reason: String,
    },
}

/// One searchable layer: named options and the default option.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layer {
    /// Layer name, e.g. `node2<-1` or `block3.kernel`.
    pub name: String,
    /// Option names, in index order.
    pub options: Vec<String>,
    /// Index of the default option (LayerNAS: the most costly one).
    pub default: usize,
}

impl Layer {
    /// A layer from its name, option names and default index.
    pub fn new<I, S>(name: impl Into<String>, options: I, default: usize) -> Layer
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Layer {
            name: name.into(),
            options: options.into_iter().map(Into::into).collect(),
            default,
        }
    }
}

/// An ordered list of layers, each taking one option; parses and prints architectures.
///
/// Object safe: spaces are chosen at run time and used as `&dyn SearchSpace`.
pub trait SearchSpace: Send + Sync {
    /// Space name as the CLI spells it, e.g. `nb201`.
    fn name(&self) -> &str;

    /// The layers in search order.
    fn layers(&self) -> &[Layer];

    /// The architecture as users write it.
    fn format(&self, arch: &Arch) -> String;

    /// Parses what [`format`](SearchSpace::format) prints.
    fn parse(&self, text: &str) -> Result<Arch, SpaceError>;

    /// The representative of `arch` among architectures that build the same network, e.g. with
    /// the choices of a skipped block reset to their defaults. Strategies propose canonical
    /// architectures only, so no network is evaluated twice. The default is the identity.
    fn canonical(&self, arch: &Arch) -> Arch {
        arch.clone()
    }

    /// Every layer at its default option.
    fn default_arch(&self) -> Arch {
        Arch::new(self.layers().iter().map(|l| l.default as u16).collect())
    }

    /// Number of architectures in the space (saturating).
    fn num_models(&self) -> u128 {
        self.layers()
            .iter()
            .fold(1u128, |n, l| n.saturating_mul(l.options.len() as u128))
    }

    /// Checks that `arch` has one valid option per layer.
    fn check(&self, arch: &Arch) -> Result<(), SpaceError> {
        let layers = self.layers();
        let fail = |reason: String| SpaceError::NotInSpace {
            space: self.name().to_string(),
            arch: arch.key(),
            reason,
        };
        if arch.len() != layers.len() {
            return Err(fail(format!(
                "it has {} layers, the space has {}",
                arch.len(),
                layers.len()
            )));
        }
        for (i, layer) in layers.iter().enumerate() {
            if arch.get(i) >= layer.options.len() {
                return Err(fail(format!(
                    "layer {} has {} options, got option {}",
                    layer.name,
                    layer.options.len(),
                    arch.get(i)
                )));
            }
        }
        Ok(())
    }
}

/// A space given by its layers alone; architectures are written `layer=option,...`.
#[derive(Debug, Clone)]
pub struct GenericSpace {
    name: String,
    layers: Vec<Layer>,
}

impl GenericSpace {
    /// Validates the layers: at least one, each with options, distinct names, default in range.
    pub fn new(name: impl Into<String>, layers: Vec<Layer>) -> Result<Self, SpaceError> {
        let name = name.into();
        let invalid = |reason: String| SpaceError::Invalid {
            space: name.clone(),
            reason,
        };
        if layers.is_empty() {
            return Err(invalid("it has no layers".into()));
        }
        for (i, layer) in layers.iter().enumerate() {
            if layer.options.is_empty() {
                return Err(invalid(format!(
                    "layer {} has an empty option list",
                    layer.name
                )));
            }
            if layer.default >= layer.options.len() {
                return Err(invalid(format!(
                    "layer {} has default {} but only {} options",
                    layer.name,
                    layer.default,
                    layer.options.len()
                )));
            }
            if layers[..i].iter().any(|l| l.name == layer.name) {
                return Err(invalid(format!("layer name {} appears twice", layer.name)));
            }
        }
        Ok(GenericSpace { name, layers })
    }
}

impl SearchSpace for GenericSpace {
    fn name(&self) -> &str {
        &self.name
    }

    fn layers(&self) -> &[Layer] {
        &self.layers
    }

    fn format(&self, arch: &Arch) -> String {
        self.layers
            .iter()
            .zip(arch.options())
            .map(|(l, &o)| format!("{}={}", l.name, l.options[o as usize]))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn parse(&self, text: &str) -> Result<Arch, SpaceError> {
        let fail = |reason: String| SpaceError::Parse {
            space: self.name.clone(),
            text: text.to_string(),
            reason,
        };
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        if parts.len() != self.layers.len() {
            return Err(fail(format!(
                "expected {} comma-separated layer=option pairs, got {}",
                self.layers.len(),
                parts.len()
            )));
        }
        let mut options = Vec::with_capacity(parts.len());
        for (layer, part) in self.layers.iter().zip(parts) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| fail(format!("{part:?} is not layer=option")))?;
            if name != layer.name {
                return Err(fail(format!("expected layer {}, got {name}", layer.name)));
            }
            let index = layer
                .options
                .iter()
                .position(|o| o == value)
                .ok_or_else(|| {
                    fail(format!(
                        "layer {} has no option {value:?} (allowed: {})",
                        layer.name,
                        layer.options.join(", ")
                    ))
                })?;
            options.push(index as u16);
        }
        Ok(Arch::new(options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> GenericSpace {
        GenericSpace::new(
            "toy",
            vec![
                Layer::new("a", ["x", "y"], 1),
                Layer::new("b", ["p", "q", "r"], 2),
            ],
        )
        .unwrap()
    }

    #[test]
    fn parse_and_format_round_trip() {
        let s = toy();
        for a in 0..2u16 {
            for b in 0..3u16 {
                let arch = Arch::new(vec![a, b]);
                assert_eq!(s.parse(&s.format(&arch)).unwrap(), arch);
            }
        }
        assert_eq!(s.default_arch(), Arch::new(vec![1, 2]));
    }

    #[test]
    fn bad_text_names_allowed_values() {
        let err = toy().parse("a=x,b=z").unwrap_err().to_string();
        assert!(err.contains("allowed: p, q, r"), "{err}");
    }

    #[test]
    fn empty_options_are_refused() {
        let err = GenericSpace::new("t", vec![Layer::new("a", Vec::<String>::new(), 0)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty option list"), "{err}");
    }

    #[test]
    fn check_rejects_out_of_range() {
        assert!(toy().check(&Arch::new(vec![0, 3])).is_err());
        assert!(toy().check(&Arch::new(vec![0])).is_err());
        assert!(toy().check(&Arch::new(vec![1, 2])).is_ok());
    }
}

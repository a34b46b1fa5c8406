//! The space and the cost model a study names: parsed and checked once, when the study is
//! resolved, so that every later step matches on a typed value instead of a string. They
//! display as the study file spells them (what is stored and hashed), so a study file written
//! before these types existed rebuilds to the same configuration hash.

use crate::StudyError;
use layernas_spaces::NetworkCost;
use std::fmt;
use std::path::PathBuf;

/// A search space, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpaceName {
    /// The NAS-Bench-201 cell space (`nb201`): costs and rewards from the benchmark table.
    Nb201,
    /// MobileNetV2's backbone space (`mobilenetv2`).
    MobileNetV2,
    /// MobileNetV3-Large's backbone space (`mobilenetv3-large`).
    MobileNetV3Large,
    /// MobileNetV3-Small's backbone space (`mobilenetv3-small`).
    MobileNetV3Small,
    /// NATS-Bench's size space (`nats-sss`), shaped by the data set.
    NatsSss,
    /// A `.toml` space file: its absolute path when the file exists, else as written (reading
    /// it then reports the error with the path the user wrote).
    File(PathBuf),
}

/// The built-in spaces as the study file spells them.
pub const SPACES: &[&str] = &[
    "nb201",
    "mobilenetv2",
    "mobilenetv3-large",
    "mobilenetv3-small",
    "nats-sss",
];

impl SpaceName {
    /// A built-in name or a path ending in `.toml`; anything else is refused with the allowed
    /// values.
    pub fn parse(name: &str) -> Result<SpaceName, StudyError> {
        Ok(match name {
            "nb201" => SpaceName::Nb201,
            "mobilenetv2" => SpaceName::MobileNetV2,
            "mobilenetv3-large" => SpaceName::MobileNetV3Large,
            "mobilenetv3-small" => SpaceName::MobileNetV3Small,
            "nats-sss" => SpaceName::NatsSss,
            path if path.ends_with(".toml") => SpaceName::File(absolute(path)),
            other => {
                return Err(StudyError::Input(format!(
                    "unknown space {other:?} (allowed: {}, or a .toml space file)",
                    SPACES.join(", ")
                )))
            }
        })
    }

    /// True for the space whose costs and rewards come from the benchmark table.
    pub fn is_table(&self) -> bool {
        matches!(self, SpaceName::Nb201)
    }

    /// The cost model used when none is named: `flops` on the table, `madds` otherwise.
    pub fn default_cost(&self) -> CostName {
        if self.is_table() {
            CostName::Flops
        } else {
            CostName::Madds
        }
    }
}

impl fmt::Display for SpaceName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpaceName::Nb201 => f.write_str("nb201"),
            SpaceName::MobileNetV2 => f.write_str("mobilenetv2"),
            SpaceName::MobileNetV3Large => f.write_str("mobilenetv3-large"),
            SpaceName::MobileNetV3Small => f.write_str("mobilenetv3-small"),
            SpaceName::NatsSss => f.write_str("nats-sss"),
            SpaceName::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A cost model, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CostName {
    /// FLOPs from the benchmark table (`flops`).
    Flops,
    /// Parameters: the table's column on `nb201`, counted from the network otherwise
    /// (`params`).
    Params,
    /// Multiply-adds counted from the network (`madds`).
    Madds,
    /// A latency column of the benchmark table, by device (`latency:<device>`; the devices are
    /// the table's and are checked when it is loaded).
    TableLatency(String),
    /// A latency table measured by `layernas profile` (`latency:FILE`), by absolute path when
    /// the file exists.
    LatencyFile(PathBuf),
}

impl CostName {
    /// `name` as a cost model of `space`: `flops`, `params` or `latency:<device>` on the table;
    /// `madds`, `params` or `latency:FILE` on a network space.
    pub fn parse(name: &str, space: &SpaceName) -> Result<CostName, StudyError> {
        if space.is_table() {
            return Ok(match name {
                "flops" => CostName::Flops,
                "params" => CostName::Params,
                _ => match name.strip_prefix("latency:") {
                    Some(device) => CostName::TableLatency(device.to_string()),
                    None => {
                        return Err(StudyError::Input(format!(
                            "unknown cost {name:?} (allowed: flops, params, latency:<device>)"
                        )))
                    }
                },
            });
        }
        Ok(match name {
            "madds" => CostName::Madds,
            "params" => CostName::Params,
            _ => match name.strip_prefix("latency:") {
                Some(path) => CostName::LatencyFile(absolute(path)),
                None => {
                    return Err(StudyError::Input(format!(
                        "unknown cost {name:?} for space {space} (allowed: {}, latency:FILE \
                         from layernas profile)",
                        NetworkCost::NAMES.join(", ")
                    )))
                }
            },
        })
    }
}

impl fmt::Display for CostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CostName::Flops => f.write_str("flops"),
            CostName::Params => f.write_str("params"),
            CostName::Madds => f.write_str("madds"),
            CostName::TableLatency(device) => write!(f, "latency:{device}"),
            CostName::LatencyFile(path) => write!(f, "latency:{}", path.display()),
        }
    }
}

/// `path` made absolute when it names an existing file (otherwise as given: reading it later
/// reports the error with the path the user wrote).
fn absolute(path: &str) -> PathBuf {
    std::fs::canonicalize(path)
        .ok()
        .filter(|p| p.to_str().is_some())
        .unwrap_or_else(|| PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_display_as_the_study_file_spells_them() {
        for name in SPACES {
            assert_eq!(SpaceName::parse(name).unwrap().to_string(), *name);
        }
        for (cost, space) in [
            ("flops", SpaceName::Nb201),
            ("params", SpaceName::Nb201),
            ("latency:pixel3", SpaceName::Nb201),
            ("madds", SpaceName::MobileNetV2),
            ("params", SpaceName::NatsSss),
        ] {
            assert_eq!(CostName::parse(cost, &space).unwrap().to_string(), cost);
        }
    }

    #[test]
    fn a_cost_of_the_other_kind_of_space_is_refused_with_the_allowed_values() {
        let e = CostName::parse("madds", &SpaceName::Nb201)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown cost \"madds\"") && e.contains("latency:<device>"));
        let e = CostName::parse("flops", &SpaceName::MobileNetV3Small)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown cost \"flops\" for space mobilenetv3-small")
                && e.contains("madds, params"),
            "{e}"
        );
        let e = SpaceName::parse("resnet").unwrap_err().to_string();
        assert!(e.contains("mobilenetv3-small"), "{e}");
    }
}

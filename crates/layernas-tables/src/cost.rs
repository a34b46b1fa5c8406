use crate::{Dataset, Nb201Table, TableError};
use layernas_core::{Arch, CostModel};
use layernas_spaces::Nb201Space;

/// A cost read from the benchmark tables: `flops` (MFLOPs), `params` (millions) or
/// `latency:<device>` (milliseconds).
#[derive(Debug, Clone)]
pub struct TableCost {
    name: String,
    unit: String,
    column: String,
    values: Vec<f64>,
}

/// The latency devices of the table as `(device, column)`: the column name without the
/// `hwnb_cifar10_` / `help_` prefix and the `_latency_ms` suffix. Fails if the latency table
/// cannot be read.
pub fn latency_devices(table: &Nb201Table) -> Result<Vec<(String, String)>, TableError> {
    Ok(table
        .latency_columns()?
        .iter()
        .filter_map(|col| {
            let stem = col.strip_suffix("_latency_ms")?;
            let device = stem
                .strip_prefix("hwnb_cifar10_")
                .or_else(|| stem.strip_prefix("help_"))
                .unwrap_or(stem);
            Some((device.to_string(), col.clone()))
        })
        .collect())
}

impl TableCost {
    /// The cost named `spec` for `dataset`.
    pub fn new(table: &Nb201Table, spec: &str, dataset: Dataset) -> Result<TableCost, TableError> {
        let (column, unit) = match spec {
            "flops" => (format!("flops_m_{}", dataset.name()), "MFLOPs"),
            "params" => (format!("params_m_{}", dataset.name()), "M params"),
            _ => match spec.strip_prefix("latency:") {
                Some(device) => {
                    let devices = latency_devices(table)?;
                    let column = devices
                        .iter()
                        .find(|(d, _)| d == device)
                        .map(|(_, c)| c.clone())
                        .ok_or_else(|| TableError::Unknown {
                            what: "latency device",
                            value: device.to_string(),
                            allowed: devices
                                .iter()
                                .map(|(d, _)| d.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        })?;
                    (column, "ms")
                }
                None => {
                    return Err(TableError::Unknown {
                        what: "cost",
                        value: spec.to_string(),
                        allowed: "flops, params, latency:<device>".into(),
                    })
                }
            },
        };
        Ok(TableCost {
            name: spec.to_string(),
            unit: unit.to_string(),
            values: table.column(&column)?,
            column,
        })
    }

    /// The table column this cost reads.
    pub fn column(&self) -> &str {
        &self.column
    }
}

impl CostModel for TableCost {
    fn name(&self) -> &str {
        &self.name
    }

    fn unit(&self) -> &str {
        &self.unit
    }

    fn cost(&self, arch: &Arch) -> f64 {
        self.values[Nb201Space::code(arch)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use layernas_core::SearchSpace;

    #[test]
    fn flops_follow_the_closed_form() {
        let table = Nb201Table::embedded().unwrap();
        let space = Nb201Space::new();
        for ds in Dataset::ALL {
            let flops = TableCost::new(&table, "flops", ds).unwrap();
            let (base, c3, c1) = match ds {
                Dataset::Cifar10 => (7.78305, 35.38944, 3.93216),
                Dataset::Cifar100 => (7.78890, 35.38944, 3.93216),
                Dataset::Imagenet16 => (1.95340, 8.84736, 0.98304),
            };
            for code in (0..15_625).step_by(97) {
                let arch = Nb201Space::from_code(code);
                let n3 = arch.options().iter().filter(|&&o| o == 3).count() as f64;
                let n1 = arch.options().iter().filter(|&&o| o == 2).count() as f64;
                let expected = base + n3 * c3 + n1 * c1;
                let got = flops.cost(&arch);
                assert!(
                    (got - expected).abs() < 1e-4,
                    "{} {got} {expected}",
                    space.format(&arch)
                );
            }
        }
    }

    #[test]
    fn every_latency_device_resolves_and_unknown_lists_them() {
        let table = Nb201Table::embedded().unwrap();
        let devices = latency_devices(&table).unwrap();
        assert_eq!(devices.len(), 27);
        for (device, _) in &devices {
            TableCost::new(&table, &format!("latency:{device}"), Dataset::Cifar10).unwrap();
        }
        let err = TableCost::new(&table, "latency:tpu", Dataset::Cifar10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown latency device \"tpu\""), "{err}");
        assert!(
            err.contains("pixel3") && err.contains("titan_rtx_32"),
            "{err}"
        );
        let err = TableCost::new(&table, "energy", Dataset::Cifar10)
            .unwrap_err()
            .to_string();
        assert!(err.contains("flops, params, latency:<device>"), "{err}");
    }
}

use flate2::read::GzDecoder;
use layernas_core::{Arch, SearchSpace};
use layernas_spaces::Nb201Space;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// sha256 of the decompressed embedded `tss.csv` (as published in its README).
pub const EMBEDDED_TSS_SHA256: &str =
    "2ea498e93cb80f74471fbc2f331427bc522960445b34172e4a369108fa26052b";
/// sha256 of the decompressed embedded `latency.csv` (as published in its README).
pub const EMBEDDED_LATENCY_SHA256: &str =
    "233eed15f79db0ad0fe85f9329cc860df6e61952b3f6d26536fbc421b9d1f683";

static TSS_GZ: &[u8] = include_bytes!("../../../data/nasbench201/tss.csv.gz");
static LATENCY_GZ: &[u8] = include_bytes!("../../../data/hw-nas-bench/latency.csv.gz");

const CELLS: usize = 15_625;

/// Why a table could not be loaded or queried.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// A data file could not be read.
    #[error("cannot read data file {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The system's reason.
        reason: String,
    },
    /// A data file was read but its content is wrong.
    #[error("corrupt data file {path}: {reason}")]
    Corrupt {
        /// The file (or `embedded:<name>`).
        path: String,
        /// What is wrong, with the line where it helps.
        reason: String,
    },
    /// A value that has to name something in the table does not.
    #[error("unknown {what} {value:?} (allowed: {allowed})")]
    Unknown {
        /// What kind of name: dataset, cost, device, column.
        what: &'static str,
        /// The value given.
        value: String,
        /// The allowed values.
        allowed: String,
    },
}

/// A dataset of the NAS-Bench-201 table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataset {
    /// CIFAR-10.
    Cifar10,
    /// CIFAR-100.
    Cifar100,
    /// ImageNet16-120.
    Imagenet16,
}

impl Dataset {
    /// All datasets.
    pub const ALL: [Dataset; 3] = [Dataset::Cifar10, Dataset::Cifar100, Dataset::Imagenet16];

    /// Name as the CLI and the table's columns spell it.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Cifar10 => "cifar10",
            Dataset::Cifar100 => "cifar100",
            Dataset::Imagenet16 => "imagenet16",
        }
    }

    /// Parses a name (`ImageNet16-120` is accepted for `imagenet16`).
    pub fn parse(name: &str) -> Result<Dataset, TableError> {
        match name.to_ascii_lowercase().as_str() {
            "cifar10" => Ok(Dataset::Cifar10),
            "cifar100" => Ok(Dataset::Cifar100),
            "imagenet16" | "imagenet16-120" => Ok(Dataset::Imagenet16),
            _ => Err(TableError::Unknown {
                what: "dataset",
                value: name.to_string(),
                allowed: "cifar10, cifar100, imagenet16".into(),
            }),
        }
    }

    /// Default reward column: the NAS-Bench-201 v1.1 validation accuracy (200 epochs).
    pub fn valid_column(self) -> String {
        format!("{}_valid", self.name())
    }

    /// Default test column: the matching test accuracy.
    pub fn test_column(self) -> String {
        format!("{}_test", self.name())
    }
}

/// Where the tables come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataSource {
    /// The copies embedded in the binary (checked against their sha256).
    Embedded,
    /// A directory laid out as the repository's `data/`: `nasbench201/tss.csv[.gz]` and
    /// `hw-nas-bench/latency.csv[.gz]`.
    Dir(PathBuf),
}

/// One numeric table keyed by the benchmark index (0..15624).
#[derive(Debug)]
struct IndexedTable {
    columns: HashMap<String, Vec<f64>>,
    names: Vec<String>,
}

/// The NAS-Bench-201 table with the latency table joined on the benchmark index. Columns are
/// addressed by name and returned in [`Nb201Space::code`] order.
#[derive(Debug)]
pub struct Nb201Bench {
    tss: IndexedTable,
    latency: IndexedTable,
    /// Benchmark index of each cell, by code.
    index_of_code: Vec<u32>,
    source: DataSource,
}

static EMBEDDED: OnceLock<Arc<Nb201Bench>> = OnceLock::new();

impl Nb201Bench {
    /// The embedded tables, loaded once per process.
    pub fn embedded() -> Result<Arc<Nb201Bench>, TableError> {
        if let Some(bench) = EMBEDDED.get() {
            return Ok(bench.clone());
        }
        let bench = Arc::new(Self::load(&DataSource::Embedded)?);
        Ok(EMBEDDED.get_or_init(|| bench).clone())
    }

    /// Loads the tables from `source`.
    pub fn load(source: &DataSource) -> Result<Nb201Bench, TableError> {
        let read = |folder: &str, stem: &str, embedded: &'static [u8], sha: &str| match source {
            DataSource::Embedded => {
                let name = format!("embedded:{folder}/{stem}.csv.gz");
                let bytes = gunzip(&name, embedded)?;
                check_sha(&name, &bytes, sha)?;
                Ok::<_, TableError>((name, bytes))
            }
            DataSource::Dir(dir) => read_table_file(&dir.join(folder), stem),
        };
        let (tss_name, tss_bytes) = read("nasbench201", "tss", TSS_GZ, EMBEDDED_TSS_SHA256)?;
        let space = Nb201Space::new();
        let mut index_of_code = vec![u32::MAX; CELLS];
        let tss = parse_table(&tss_name, &tss_bytes, |line, index, arch| {
            let arch = arch.ok_or_else(|| format!("line {line}: no arch column"))?;
            let parsed = space.parse(arch).map_err(|e| format!("line {line}: {e}"))?;
            let code = Nb201Space::code(&parsed);
            if index_of_code[code] != u32::MAX {
                return Err(format!("line {line}: arch {arch} appears twice"));
            }
            index_of_code[code] = index;
            Ok(())
        })?;
        for required in ["flops_m_cifar10", "params_m_cifar10", "cifar10_valid"] {
            if !tss.columns.contains_key(required) {
                return Err(TableError::Corrupt {
                    path: tss_name,
                    reason: format!("missing column {required}"),
                });
            }
        }
        let (lat_name, lat_bytes) = read(
            "hw-nas-bench",
            "latency",
            LATENCY_GZ,
            EMBEDDED_LATENCY_SHA256,
        )?;
        let latency = parse_table(&lat_name, &lat_bytes, |_, _, _| Ok(()))?;
        Ok(Nb201Bench {
            tss,
            latency,
            index_of_code,
            source: source.clone(),
        })
    }

    /// Where the tables were loaded from.
    pub fn source(&self) -> &DataSource {
        &self.source
    }

    /// Names of the accuracy table's numeric columns.
    pub fn accuracy_columns(&self) -> &[String] {
        &self.tss.names
    }

    /// Names of the latency table's columns.
    pub fn latency_columns(&self) -> &[String] {
        &self.latency.names
    }

    /// The benchmark's `index` of an architecture.
    pub fn index(&self, arch: &Arch) -> u32 {
        self.index_of_code[Nb201Space::code(arch)]
    }

    /// A column of either table, in code order.
    pub fn column(&self, name: &str) -> Result<Vec<f64>, TableError> {
        let values = self
            .tss
            .columns
            .get(name)
            .or_else(|| self.latency.columns.get(name))
            .ok_or_else(|| TableError::Unknown {
                what: "column",
                value: name.to_string(),
                allowed: self
                    .tss
                    .names
                    .iter()
                    .chain(&self.latency.names)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Ok(self
            .index_of_code
            .iter()
            .map(|&i| values[i as usize])
            .collect())
    }
}

fn gunzip(name: &str, bytes: &[u8]) -> Result<Vec<u8>, TableError> {
    let mut out = Vec::with_capacity(bytes.len() * 5);
    GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| TableError::Corrupt {
            path: name.to_string(),
            reason: format!("not valid gzip: {e}"),
        })?;
    Ok(out)
}

fn check_sha(name: &str, bytes: &[u8], expected: &str) -> Result<(), TableError> {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if hex != expected {
        return Err(TableError::Corrupt {
            path: name.to_string(),
            reason: format!("sha256 {hex} does not match the published {expected}"),
        });
    }
    Ok(())
}

/// Reads `<dir>/<stem>.csv.gz`, or `<dir>/<stem>.csv` when there is no gzip copy.
fn read_table_file(dir: &Path, stem: &str) -> Result<(String, Vec<u8>), TableError> {
    let gz = dir.join(format!("{stem}.csv.gz"));
    let plain = dir.join(format!("{stem}.csv"));
    let io = |path: &Path, e: std::io::Error| TableError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    if gz.exists() {
        let bytes = std::fs::read(&gz).map_err(|e| io(&gz, e))?;
        let name = gz.display().to_string();
        let data = gunzip(&name, &bytes)?;
        Ok((name, data))
    } else {
        let bytes = std::fs::read(&plain).map_err(|e| io(&plain, e))?;
        Ok((plain.display().to_string(), bytes))
    }
}

/// Parses a CSV with an `index` column (a permutation of 0..15624), an optional `arch` column
/// and numeric, finite columns otherwise. `on_row(line, index, arch)` checks each row.
fn parse_table(
    name: &str,
    bytes: &[u8],
    mut on_row: impl FnMut(u64, u32, Option<&str>) -> Result<(), String>,
) -> Result<IndexedTable, TableError> {
    let corrupt = |reason: String| TableError::Corrupt {
        path: name.to_string(),
        reason,
    };
    let mut reader = csv::ReaderBuilder::new().from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| corrupt(format!("unreadable header: {e}")))?
        .clone();
    let index_col = header
        .iter()
        .position(|h| h == "index")
        .ok_or_else(|| corrupt("no index column".into()))?;
    let arch_col = header.iter().position(|h| h == "arch");
    let numeric: Vec<(usize, String)> = header
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index_col && Some(*i) != arch_col)
        .map(|(i, h)| (i, h.to_string()))
        .collect();
    let mut values: Vec<Vec<f64>> = vec![vec![f64::NAN; CELLS]; numeric.len()];
    let mut filled = vec![false; CELLS];
    let mut record = csv::StringRecord::new();
    let mut rows = 0usize;
    loop {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| corrupt(format!("malformed CSV: {e}")))?;
        if !more {
            break;
        }
        let line = record.position().map_or(0, |p| p.line());
        rows += 1;
        let index: u32 = record[index_col].parse().map_err(|_| {
            corrupt(format!(
                "line {line}: index {:?} is not a number",
                &record[index_col]
            ))
        })?;
        let slot = index as usize;
        if slot >= CELLS || filled[slot] {
            return Err(corrupt(format!(
                "line {line}: index {index} is out of range or repeated"
            )));
        }
        filled[slot] = true;
        on_row(line, index, arch_col.map(|c| &record[c])).map_err(corrupt)?;
        for (k, (col, col_name)) in numeric.iter().enumerate() {
            let text = &record[*col];
            let v: f64 = text.parse().map_err(|_| {
                corrupt(format!(
                    "line {line}: column {col_name}: {text:?} is not a number"
                ))
            })?;
            if !v.is_finite() {
                return Err(corrupt(format!("line {line}: column {col_name} is {text}")));
            }
            values[k][slot] = v;
        }
    }
    if rows != CELLS {
        return Err(corrupt(format!("expected {CELLS} rows, found {rows}")));
    }
    let names: Vec<String> = numeric.into_iter().map(|(_, n)| n).collect();
    Ok(IndexedTable {
        columns: names.iter().cloned().zip(values).collect(),
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_table_loads_and_matches_published_figures() {
        let bench = Nb201Bench::embedded().unwrap();
        let space = Nb201Space::new();
        let resnet = space
            .parse(
                "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
            )
            .unwrap();
        assert_eq!(bench.index(&resnet), 11472);
        let code = Nb201Space::code(&resnet);
        assert!((bench.column("cifar10_test").unwrap()[code] - 93.91).abs() < 0.01);
        let best = bench
            .column("cifar10_test")
            .unwrap()
            .into_iter()
            .fold(f64::MIN, f64::max);
        assert!((best - 94.373).abs() < 1e-3);
        // Latency is joined on the benchmark index: index 0's published Pixel 3 latency.
        let pixel3 = bench.column("hwnb_cifar10_pixel3_latency_ms").unwrap();
        let code0 = (0..CELLS)
            .find(|&c| bench.index(&Nb201Space::from_code(c)) == 0)
            .unwrap();
        assert!((pixel3[code0] - 3.60585).abs() < 1e-9);
    }

    #[test]
    fn unknown_column_lists_allowed_names() {
        let bench = Nb201Bench::embedded().unwrap();
        let err = bench.column("cifar11_valid").unwrap_err().to_string();
        assert!(err.contains("unknown column \"cifar11_valid\""), "{err}");
        assert!(err.contains("cifar10_valid"), "{err}");
    }

    #[test]
    fn corrupt_gzip_is_reported() {
        let err = gunzip("x.csv.gz", b"not gzip").unwrap_err().to_string();
        assert!(
            err.starts_with("corrupt data file x.csv.gz: not valid gzip"),
            "{err}"
        );
    }

    #[test]
    fn checksum_mismatch_is_reported() {
        let err = check_sha("x", b"abc", EMBEDDED_TSS_SHA256)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not match the published"), "{err}");
    }
}

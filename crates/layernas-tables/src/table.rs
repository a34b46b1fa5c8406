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
/// Columns a table may have: each takes a column of 15,625 numbers in memory.
const MAX_COLUMNS: usize = 1_000;

/// Why a table could not be loaded or queried.
#[derive(Debug, Clone, thiserror::Error)]
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
/// addressed by name and returned in [`Nb201Space::code`] order. The latency table is read the
/// first time a latency column is asked for, so a data directory without it serves every
/// other cost and column.
#[derive(Debug)]
pub struct Nb201Table {
    tss: IndexedTable,
    latency: OnceLock<Result<IndexedTable, TableError>>,
    /// Benchmark index of each cell, by code.
    index_of_code: Vec<u32>,
    source: DataSource,
}

static EMBEDDED: OnceLock<Arc<Nb201Table>> = OnceLock::new();

impl Nb201Table {
    /// The embedded tables, loaded once per process.
    pub fn embedded() -> Result<Arc<Nb201Table>, TableError> {
        if let Some(table) = EMBEDDED.get() {
            return Ok(table.clone());
        }
        let table = Arc::new(Self::load(&DataSource::Embedded)?);
        Ok(EMBEDDED.get_or_init(|| table).clone())
    }

    /// Loads the accuracy table from `source` (the latency table follows on first use).
    pub fn load(source: &DataSource) -> Result<Nb201Table, TableError> {
        let (name, bytes) = read_source(source, "nasbench201", "tss", TSS_GZ, EMBEDDED_TSS_SHA256)?;
        let (tss, index_of_code) = parse_tss(&name, &bytes)?;
        Ok(Nb201Table {
            tss,
            latency: OnceLock::new(),
            index_of_code,
            source: source.clone(),
        })
    }

    /// The latency table, read on first use.
    fn latency(&self) -> Result<&IndexedTable, TableError> {
        self.latency
            .get_or_init(|| {
                let (name, bytes) = read_source(
                    &self.source,
                    "hw-nas-bench",
                    "latency",
                    LATENCY_GZ,
                    EMBEDDED_LATENCY_SHA256,
                )?;
                parse_table(&name, &bytes, |_, _, _| Ok(()))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Where the tables were loaded from.
    pub fn source(&self) -> &DataSource {
        &self.source
    }

    /// Names of the accuracy table's numeric columns.
    pub fn accuracy_columns(&self) -> &[String] {
        &self.tss.names
    }

    /// Names of the latency table's columns (reading the latency table if not yet read).
    pub fn latency_columns(&self) -> Result<&[String], TableError> {
        Ok(&self.latency()?.names)
    }

    /// The benchmark's `index` of an architecture.
    pub fn index(&self, arch: &Arch) -> u32 {
        self.index_of_code[Nb201Space::code(arch)]
    }

    /// A column of either table, in code order. The latency table is read only for a name the
    /// accuracy table lacks.
    pub fn column(&self, name: &str) -> Result<Vec<f64>, TableError> {
        let values = match self.tss.columns.get(name) {
            Some(v) => v,
            None => {
                let latency = match self.latency() {
                    Ok(t) => Some(t),
                    // A latency column needs the latency table; any other unknown name is
                    // just unknown.
                    Err(e) if name.ends_with("_latency_ms") => return Err(e),
                    Err(_) => None,
                };
                latency
                    .and_then(|t| t.columns.get(name))
                    .ok_or_else(|| TableError::Unknown {
                        what: "column",
                        value: name.to_string(),
                        allowed: self
                            .tss
                            .names
                            .iter()
                            .chain(latency.into_iter().flat_map(|t| &t.names))
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?
            }
        };
        Ok(self
            .index_of_code
            .iter()
            .map(|&i| values[i as usize])
            .collect())
    }
}

/// The bytes of `<folder>/<stem>.csv[.gz]` from `source`, with the name errors use; the
/// embedded copy is checked against `sha`.
fn read_source(
    source: &DataSource,
    folder: &str,
    stem: &str,
    embedded: &'static [u8],
    sha: &str,
) -> Result<(String, Vec<u8>), TableError> {
    match source {
        DataSource::Embedded => {
            let name = format!("embedded:{folder}/{stem}.csv.gz");
            let bytes = gunzip(&name, embedded)?;
            check_sha(&name, &bytes, sha)?;
            Ok((name, bytes))
        }
        DataSource::Dir(dir) => read_table_file(&dir.join(folder), stem),
    }
}

/// Parses the accuracy table (`tss.csv`): its columns and the benchmark index of each cell, by
/// code. Every arch string must be a distinct NAS-Bench-201 cell.
fn parse_tss(name: &str, bytes: &[u8]) -> Result<(IndexedTable, Vec<u32>), TableError> {
    let space = Nb201Space::new();
    let mut index_of_code = vec![u32::MAX; CELLS];
    let tss = parse_table(name, bytes, |line, index, arch| {
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
                path: name.to_string(),
                reason: format!("missing column {required}"),
            });
        }
    }
    Ok((tss, index_of_code))
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
    if header.len() > MAX_COLUMNS {
        return Err(corrupt(format!(
            "the header has {} columns (at most {MAX_COLUMNS})",
            header.len()
        )));
    }
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
        let table = Nb201Table::embedded().unwrap();
        let space = Nb201Space::new();
        let resnet = space
            .parse(
                "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|",
            )
            .unwrap();
        assert_eq!(table.index(&resnet), 11472);
        let code = Nb201Space::code(&resnet);
        assert!((table.column("cifar10_test").unwrap()[code] - 93.91).abs() < 0.01);
        let best = table
            .column("cifar10_test")
            .unwrap()
            .into_iter()
            .fold(f64::MIN, f64::max);
        assert!((best - 94.373).abs() < 1e-3);
        // Latency is joined on the benchmark index: index 0's published Pixel 3 latency.
        let pixel3 = table.column("hwnb_cifar10_pixel3_latency_ms").unwrap();
        let code0 = (0..CELLS)
            .find(|&c| table.index(&Nb201Space::from_code(c)) == 0)
            .unwrap();
        assert!((pixel3[code0] - 3.60585).abs() < 1e-9);
    }

    #[test]
    fn unknown_column_lists_allowed_names() {
        let table = Nb201Table::embedded().unwrap();
        let err = table.column("cifar11_valid").unwrap_err().to_string();
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

    /// The embedded accuracy table as CSV text.
    fn tss_text() -> String {
        String::from_utf8(gunzip("tss", TSS_GZ).unwrap()).unwrap()
    }

    #[test]
    fn a_data_directory_without_the_latency_table_serves_every_other_column() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("nasbench201")).unwrap();
        std::fs::write(dir.path().join("nasbench201/tss.csv"), tss_text()).unwrap();
        let table = Nb201Table::load(&DataSource::Dir(dir.path().into())).unwrap();
        let flops = crate::TableCost::new(&table, "flops", Dataset::Cifar10).unwrap();
        assert!(flops.column() == "flops_m_cifar10");
        table.column("cifar10_valid").unwrap();
        // Asking for latency reads the latency table, and names it.
        let e = crate::TableCost::new(&table, "latency:pixel3", Dataset::Cifar10)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("hw-nas-bench") && e.contains("latency.csv"),
            "{e}"
        );
        let e = table
            .column("hwnb_cifar10_pixel3_latency_ms")
            .unwrap_err()
            .to_string();
        assert!(e.contains("latency.csv"), "{e}");
        // Any other unknown column is just unknown.
        let e = table.column("cifar11_valid").unwrap_err().to_string();
        assert!(e.contains("unknown column \"cifar11_valid\""), "{e}");
    }

    #[test]
    fn a_header_with_too_many_columns_is_refused_before_allocating() {
        let header: Vec<String> = (0..100_000).map(|i| format!("c{i}")).collect();
        let text = format!("index,{}\n", header.join(","));
        let e = parse_table("x.csv", text.as_bytes(), |_, _, _| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("100001 columns (at most 1000)"), "{e}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(128))]

        /// The loaders take any bytes: an error, never a panic.
        #[test]
        fn table_loaders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
            let _ = parse_tss("x.csv", &bytes);
            let _ = parse_table("x.csv", &bytes, |_, _, _| Ok(()));
            let _ = gunzip("x.csv.gz", &bytes);
        }

        /// Nor on a real table with one line changed: a row cut short or made long, a value
        /// replaced by an extreme number or text, a header renamed.
        #[test]
        fn table_loaders_never_panic_on_a_damaged_table(
            line in 0usize..40,
            cut in 0usize..200,
            insert in proptest::prop_oneof![
                proptest::strategy::Just(String::new()),
                proptest::strategy::Just(",".to_string()),
                proptest::strategy::Just("1e400".to_string()),
                proptest::strategy::Just("-1".to_string()),
                proptest::strategy::Just("99999999999".to_string()),
                proptest::strategy::Just("NaN".to_string()),
                proptest::strategy::Just("\"".to_string()),
                "\\PC{0,12}",
            ],
        ) {
            let text = tss_text();
            let mut lines: Vec<String> = text.lines().take(41).map(str::to_string).collect();
            let l = &mut lines[line];
            let at = l.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(l.len());
            l.insert_str(at, &insert);
            let damaged = lines.join("\n");
            proptest::prop_assert!(parse_tss("x.csv", damaged.as_bytes()).is_err());
        }
    }

    #[test]
    fn checksum_mismatch_is_reported() {
        let err = check_sha("x", b"abc", EMBEDDED_TSS_SHA256)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not match the published"), "{err}");
    }
}

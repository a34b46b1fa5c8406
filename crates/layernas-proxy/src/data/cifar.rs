//! The CIFAR binary releases: CIFAR-10 (`data_batch_*.bin`, `test_batch.bin`; records of one
//! label byte and 3,072 pixel bytes) and CIFAR-100 (`train.bin`, `test.bin`; records of a
//! coarse and a fine label byte and 3,072 pixel bytes). Pixels are 32x32, red, green then blue
//! planes: already the trainer's layout. Each file is streamed once (in parallel across files):
//! every record's labels are checked, only the chosen records are kept.

use super::spec::{assemble, select, LoadOptions, LoadReport};
use super::{CifarLabel, DataError, DataSpec, Dataset, ImageData};
use rayon::prelude::*;
use std::io::Read;
use std::path::{Path, PathBuf};

const SIDE: usize = 32;
const PIXELS: usize = 3 * SIDE * SIDE;

/// One release's layout.
struct Release {
    train: Vec<PathBuf>,
    test: Option<PathBuf>,
    /// Label bytes before the pixels (1 or 2).
    label_bytes: usize,
    /// Classes of each label byte.
    label_classes: Vec<usize>,
    /// The label byte that is the class.
    label: usize,
    names: Vec<String>,
}

fn names(dir: &Path, file: &str, count: usize) -> Vec<String> {
    let listed: Vec<String> = std::fs::read_to_string(dir.join(file))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if listed.len() == count {
        listed
    } else {
        (0..count).map(|c| c.to_string()).collect()
    }
}

fn release(spec: &DataSpec) -> Result<Release, DataError> {
    let dir = &spec.path;
    let present = |f: &str| dir.join(f).is_file().then(|| dir.join(f));
    if let Some(train) = present("train.bin") {
        let (label, classes, file) = match spec.label.unwrap_or(CifarLabel::Fine) {
            CifarLabel::Fine => (1, 100, "fine_label_names.txt"),
            CifarLabel::Coarse => (0, 20, "coarse_label_names.txt"),
        };
        return Ok(Release {
            train: vec![train],
            test: present("test.bin"),
            label_bytes: 2,
            label_classes: vec![20, 100],
            label,
            names: names(dir, file, classes),
        });
    }
    let mut train: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DataError::Io {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("data_batch_") && n.ends_with(".bin"))
        })
        .collect();
    train.sort();
    if train.is_empty() {
        return Err(DataError::Layout {
            path: dir.display().to_string(),
            reason: "no CIFAR batches: expected data_batch_*.bin and test_batch.bin (CIFAR-10) \
                     or train.bin and test.bin (CIFAR-100)"
                .into(),
        });
    }
    if spec.label == Some(CifarLabel::Coarse) {
        return Err(DataError::Setting(format!(
            "label = \"coarse\" is CIFAR-100's, but {} holds CIFAR-10 (one label)",
            dir.display()
        )));
    }
    Ok(Release {
        train,
        test: present("test_batch.bin"),
        label_bytes: 1,
        label_classes: vec![10],
        label: 0,
        names: names(dir, "batches.meta.txt", 10),
    })
}

/// Records in `path`, refusing a file that is not a whole number of records.
fn records(path: &Path, record: usize) -> Result<usize, DataError> {
    let len = std::fs::metadata(path)
        .map_err(|e| DataError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?
        .len() as usize;
    if len == 0 || !len.is_multiple_of(record) {
        return Err(DataError::Corrupt {
            path: path.display().to_string(),
            reason: format!(
                "truncated CIFAR batch: {len} bytes is not a whole number of {record}-byte \
                 records (the last record has {} bytes)",
                len % record
            ),
        });
    }
    Ok(len / record)
}

/// Streams `path`: checks every record's labels and returns the records `keep` wants (`keep`
/// is given the record's index in the file), as `(index, pixels, label)`.
fn read(
    path: &Path,
    r: &Release,
    keep: impl Fn(usize) -> bool,
) -> Result<Vec<(usize, Vec<u8>, u8)>, DataError> {
    let record = r.label_bytes + PIXELS;
    let file = std::fs::File::open(path).map_err(|e| DataError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let mut buf = vec![0u8; record];
    let mut out = Vec::new();
    let count = records(path, record)?;
    for i in 0..count {
        reader
            .read_exact(&mut buf)
            .map_err(|e| DataError::Corrupt {
                path: path.display().to_string(),
                reason: format!("record {i}: {e}"),
            })?;
        for (b, &classes) in r.label_classes.iter().enumerate() {
            if buf[b] as usize >= classes {
                return Err(DataError::Corrupt {
                    path: path.display().to_string(),
                    reason: format!(
                        "record {i}: label {} out of range (0 to {})",
                        buf[b],
                        classes - 1
                    ),
                });
            }
        }
        if keep(i) {
            out.push((i, buf[r.label_bytes..].to_vec(), buf[r.label]));
        }
    }
    Ok(out)
}

fn dataset(records: impl Iterator<Item = (Vec<u8>, u8)>) -> Dataset {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (p, l) in records {
        pixels.extend_from_slice(&p);
        labels.push(l);
    }
    Dataset {
        pixels,
        labels,
        rows: SIDE,
        cols: SIDE,
        channels: 3,
        mean: Vec::new(),
        std: Vec::new(),
    }
}

pub(crate) fn load(
    spec: &DataSpec,
    options: &LoadOptions,
) -> Result<(ImageData, LoadReport), DataError> {
    let r = release(spec)?;
    let record = r.label_bytes + PIXELS;
    let counts: Vec<usize> = r
        .train
        .iter()
        .map(|f| records(f, record))
        .collect::<Result<_, _>>()?;
    if let Some(test) = &r.test {
        records(test, record)?;
    }
    let total: usize = counts.iter().sum();
    let s = select(total, None, options);
    // Where each chosen record goes: validation images first, then the training images.
    let mut slot = vec![usize::MAX; total];
    for (k, &g) in s.valid.iter().chain(&s.train).enumerate() {
        slot[g] = k;
    }
    let offsets: Vec<usize> = counts
        .iter()
        .scan(0, |acc, &c| {
            let at = *acc;
            *acc += c;
            Some(at)
        })
        .collect();
    let per_file: Vec<Vec<(usize, Vec<u8>, u8)>> = r
        .train
        .par_iter()
        .zip(&offsets)
        .map(|(path, &offset)| {
            read(path, &r, |i| slot[offset + i] != usize::MAX)
                .map(|v| v.into_iter().map(|(i, p, l)| (offset + i, p, l)).collect())
        })
        .collect::<Result<_, _>>()?;
    let mut chosen: Vec<(usize, Vec<u8>, u8)> = per_file.into_iter().flatten().collect();
    chosen.sort_by_key(|(g, _, _)| slot[*g]);
    let train = dataset(chosen.into_iter().map(|(_, p, l)| (p, l)));
    let test = match &r.test {
        Some(path) => dataset(
            read(path, &r, |_| true)?
                .into_iter()
                .map(|(_, p, l)| (p, l)),
        ),
        None => dataset(std::iter::empty()),
    };
    let images = train.len() + test.len();
    let data = assemble(train, s.valid.len(), test, r.names);
    Ok((
        data,
        LoadReport {
            decoded: images,
            images,
            from_cache: false,
            cache_file: None,
            cache_error: None,
            seconds: 0.0,
        },
    ))
}

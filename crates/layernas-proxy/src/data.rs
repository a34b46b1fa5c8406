//! Fashion-MNIST in IDX format: the embedded stratified subset or the full set from a folder.

use flate2::read::GzDecoder;
use std::io::Read;
use std::path::Path;

static TRAIN_IMAGES: &[u8] =
    include_bytes!("../../../data/fashion-mnist/train-images-idx3-ubyte.gz");
static TRAIN_LABELS: &[u8] =
    include_bytes!("../../../data/fashion-mnist/train-labels-idx1-ubyte.gz");
static TEST_IMAGES: &[u8] = include_bytes!("../../../data/fashion-mnist/t10k-images-idx3-ubyte.gz");
static TEST_LABELS: &[u8] = include_bytes!("../../../data/fashion-mnist/t10k-labels-idx1-ubyte.gz");

/// Why a data file could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DataError {
    /// A file could not be read.
    #[error("cannot read data file {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A file is not what it should be.
    #[error("corrupt data file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Images (row-major, one byte per pixel) and their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Pixels of all images, `len * rows * cols`.
    pub pixels: Vec<u8>,
    /// Labels, one per image.
    pub labels: Vec<u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of classes (largest label + 1).
    pub fn classes(&self) -> usize {
        self.labels
            .iter()
            .copied()
            .max()
            .map_or(0, |m| m as usize + 1)
    }
}

/// Fashion-MNIST: training and test sets.
#[derive(Debug, Clone, PartialEq)]
pub struct FashionMnist {
    /// Training images (the validation split is held out of these).
    pub train: Dataset,
    /// Test images.
    pub test: Dataset,
}

fn gunzip_if_needed(name: &str, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| DataError::Corrupt {
                path: name.into(),
                reason: format!("not valid gzip: {e}"),
            })?;
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

fn idx(name: &str, bytes: &[u8], dims: u8) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let corrupt = |reason: String| DataError::Corrupt {
        path: name.into(),
        reason,
    };
    let data = gunzip_if_needed(name, bytes)?;
    if data.len() < 4 || data[0] != 0 || data[1] != 0 || data[2] != 0x08 || data[3] != dims {
        return Err(corrupt(format!(
            "not an IDX file of unsigned bytes with {dims} dimensions"
        )));
    }
    let header = 4 + 4 * dims as usize;
    if data.len() < header {
        return Err(corrupt("truncated header".into()));
    }
    let shape: Vec<usize> = (0..dims as usize)
        .map(|i| {
            u32::from_be_bytes(data[4 + 4 * i..8 + 4 * i].try_into().expect("4 bytes")) as usize
        })
        .collect();
    let expected: usize = shape.iter().product();
    if data.len() - header != expected {
        return Err(corrupt(format!(
            "{} bytes of data, the header says {expected}",
            data.len() - header
        )));
    }
    Ok((shape, data[header..].to_vec()))
}

fn dataset(name: &str, images: &[u8], labels: &[u8]) -> Result<Dataset, DataError> {
    let (ishape, pixels) = idx(&format!("{name}-images"), images, 3)?;
    let (lshape, labels) = idx(&format!("{name}-labels"), labels, 1)?;
    if ishape[0] != lshape[0] {
        return Err(DataError::Corrupt {
            path: name.into(),
            reason: format!("{} images but {} labels", ishape[0], lshape[0]),
        });
    }
    Ok(Dataset {
        pixels,
        labels,
        rows: ishape[1],
        cols: ishape[2],
    })
}

impl FashionMnist {
    /// The stratified subset shipped in the repository (6,000 training, 1,000 test images).
    pub fn embedded() -> Result<FashionMnist, DataError> {
        Ok(FashionMnist {
            train: dataset("embedded:train", TRAIN_IMAGES, TRAIN_LABELS)?,
            test: dataset("embedded:t10k", TEST_IMAGES, TEST_LABELS)?,
        })
    }

    /// The four IDX files (`train-images-idx3-ubyte`, ... gzipped or not) in `dir`.
    pub fn from_dir(dir: &Path) -> Result<FashionMnist, DataError> {
        let read = |stem: &str| -> Result<(String, Vec<u8>), DataError> {
            for name in [format!("{stem}.gz"), stem.to_string()] {
                let path = dir.join(&name);
                if path.exists() {
                    let bytes = std::fs::read(&path).map_err(|e| DataError::Io {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    })?;
                    return Ok((path.display().to_string(), bytes));
                }
            }
            Err(DataError::Io {
                path: dir.join(stem).display().to_string(),
                reason: "no such file (gzipped or not)".into(),
            })
        };
        let (n1, ti) = read("train-images-idx3-ubyte")?;
        let (_, tl) = read("train-labels-idx1-ubyte")?;
        let (n2, xi) = read("t10k-images-idx3-ubyte")?;
        let (_, xl) = read("t10k-labels-idx1-ubyte")?;
        Ok(FashionMnist {
            train: dataset(&n1, &ti, &tl)?,
            test: dataset(&n2, &xi, &xl)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_subset_is_stratified() {
        let d = FashionMnist::embedded().unwrap();
        assert_eq!((d.train.len(), d.test.len()), (6000, 1000));
        assert_eq!((d.train.rows, d.train.cols), (28, 28));
        for c in 0..10u8 {
            assert_eq!(d.train.labels.iter().filter(|&&l| l == c).count(), 600);
            assert_eq!(d.test.labels.iter().filter(|&&l| l == c).count(), 100);
        }
    }

    #[test]
    fn corrupt_files_are_named() {
        let err = idx("x", b"\x00\x00\x08\x03\x00", 3)
            .unwrap_err()
            .to_string();
        assert!(err.contains("corrupt data file x"), "{err}");
        let err = idx("y", b"junk", 1).unwrap_err().to_string();
        assert!(err.contains("not an IDX file"), "{err}");
    }
}

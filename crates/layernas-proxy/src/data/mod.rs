//! The images a trainer learns from: Fashion-MNIST in IDX format (the embedded stratified subset
//! or the full set from a folder), and the user's own data sets ([`DataSpec`]: an image folder,
//! the CIFAR binary releases or IDX files), decoded in parallel and cached ([`load`]).

mod cache;
mod cifar;
mod folder;
mod idx;
mod spec;

pub use spec::{
    default_cache_dir, load, CifarLabel, Color, DataFormat, DataSpec, LoadOptions, LoadReport,
    CACHE_ENV, DEFAULT_IMAGE_SIZE, MAX_CLASSES, MAX_IMAGE_SIZE,
};

use idx::idx;
use layernas_spaces::network::Input;
use std::path::Path;

static TRAIN_IMAGES: &[u8] =
    include_bytes!("../../../../data/fashion-mnist/train-images-idx3-ubyte.gz");
static TRAIN_LABELS: &[u8] =
    include_bytes!("../../../../data/fashion-mnist/train-labels-idx1-ubyte.gz");
static TEST_IMAGES: &[u8] =
    include_bytes!("../../../../data/fashion-mnist/t10k-images-idx3-ubyte.gz");
static TEST_LABELS: &[u8] =
    include_bytes!("../../../../data/fashion-mnist/t10k-labels-idx1-ubyte.gz");

/// Fashion-MNIST's pixel mean and standard deviation (of values in [0, 1]), with which its
/// batches have always been normalised.
const FASHION_MEAN: f32 = 0.286;
const FASHION_STD: f32 = 0.353;

/// Why a data set could not be used. Every message names the file or folder at fault.
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
    /// A data set's layout is wrong (an empty class folder, a class missing from `train/`,
    /// images of mixed channel counts, no recognisable format).
    #[error("bad data set {path}: {reason}")]
    Layout {
        /// The file or folder.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A setting of the `[data]` table is out of range or does not apply to the format.
    #[error("invalid data setting: {0}")]
    Setting(String),
}

/// Images (channel-major within an image, then row-major: `[len, channels, rows, cols]`, one
/// byte per value) and their labels, with the per-channel statistics its batches are normalised
/// with.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Pixels of all images, `len * channels * rows * cols`.
    pub pixels: Vec<u8>,
    /// Labels, one per image.
    pub labels: Vec<u8>,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// Channels: 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// Per-channel mean of the training images' values in [0, 1] (subtracted when batching).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation of the training images' values (divided by when
    /// batching).
    pub std: Vec<f32>,
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

    /// Values per image (`channels * rows * cols`).
    pub fn image_len(&self) -> usize {
        self.channels * self.rows * self.cols
    }

    /// The raw values of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }
}

/// A data set's splits: the training images (the validation split is held out of them) and
/// the test images, with the class names.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageData {
    /// Training images. The validation split is held out of these: by the recipe for each
    /// seed ([`Plan`](crate::Plan)) when `held_out` is `None`, or fixed by the data.
    pub train: Dataset,
    /// Test images (reported, never selected on); empty when the data set has none.
    pub test: Dataset,
    /// `Some(n)`: the first `n` training images are the validation split, fixed by the data (an
    /// image folder's `val/` tree, or images held out once when the data set was loaded), so
    /// every trial and engine validates on the same images. `None`: the recipe holds out
    /// `valid_size` images per seed (Fashion-MNIST, as it always has).
    pub held_out: Option<usize>,
    /// Class names, by label.
    pub class_names: Vec<String>,
}

/// The built-in trainer's data set type under its first name: Fashion-MNIST is one
/// [`ImageData`] among others.
pub type FashionMnist = ImageData;

impl ImageData {
    /// Number of classes the network must output.
    pub fn classes(&self) -> usize {
        self.class_names
            .len()
            .max(self.train.classes())
            .max(self.test.classes())
    }

    /// The network input the images make (square images: their side and channels).
    pub fn input(&self) -> Input {
        Input {
            resolution: self.train.rows as u32,
            channels: self.train.channels as u32,
        }
    }
}

fn idx_dataset(name: &str, images: &[u8], labels: &[u8]) -> Result<Dataset, DataError> {
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
        channels: 1,
        mean: vec![FASHION_MEAN],
        std: vec![FASHION_STD],
    })
}

fn fashion(train: Dataset, test: Dataset) -> ImageData {
    let names = [
        "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
        "boot",
    ];
    let classes = train.classes().max(test.classes());
    ImageData {
        class_names: (0..classes)
            .map(|c| {
                names
                    .get(c)
                    .map_or_else(|| c.to_string(), |n| n.to_string())
            })
            .collect(),
        train,
        test,
        held_out: None,
    }
}

/// The four IDX files (`train-images-idx3-ubyte`, ... gzipped or not) in `dir`, each read
/// whole: `(train images, train labels, test images, test labels)` with the file names.
pub(crate) fn read_idx_dir(dir: &Path) -> Result<(Dataset, Dataset), DataError> {
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
    Ok((idx_dataset(&n1, &ti, &tl)?, idx_dataset(&n2, &xi, &xl)?))
}

impl ImageData {
    /// The stratified Fashion-MNIST subset shipped in the repository (6,000 training, 1,000
    /// test images).
    pub fn embedded() -> Result<ImageData, DataError> {
        Ok(fashion(
            idx_dataset("embedded:train", TRAIN_IMAGES, TRAIN_LABELS)?,
            idx_dataset("embedded:t10k", TEST_IMAGES, TEST_LABELS)?,
        ))
    }

    /// Fashion-MNIST's four IDX files (`train-images-idx3-ubyte`, ... gzipped or not) in
    /// `dir`, normalised with Fashion-MNIST's statistics (for another IDX data set, use
    /// [`load`] with format `idx`, which computes them from the training split).
    pub fn from_dir(dir: &Path) -> Result<ImageData, DataError> {
        let (train, test) = read_idx_dir(dir)?;
        Ok(fashion(train, test))
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
        assert_eq!((d.classes(), d.input().channels), (10, 1));
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

//! The user's data sets: what the `[data]` table (and `--data`, `--data-format`) says, format
//! detection, the fixed validation split, the training images chosen (memory follows the images
//! used, not the folder), per-channel normalisation, and the loading of each format.

use super::{cifar, folder, read_idx_dir, DataError, Dataset, ImageData};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// An image folder's side after resizing and cropping, unless `image_size` says otherwise.
pub const DEFAULT_IMAGE_SIZE: u32 = 32;
/// The largest `image_size`.
pub const MAX_IMAGE_SIZE: u32 = 1024;
/// The most classes a data set may have (labels are bytes).
pub const MAX_CLASSES: usize = 256;
/// The environment variable naming the decoded-data cache folder (`off` disables the cache).
pub const CACHE_ENV: &str = "LAYERNAS_DATA_CACHE";

/// The images chosen from a data set do not depend on the trial's seed: every trial, engine and
/// process validates and trains on the same images (a trial's seed orders them).
const SELECTION_SEED: u64 = 0x6c61_7965_726e_6173;

/// A data set's file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataFormat {
    /// `train/<class>/*.{png,jpg,jpeg}`, optional `val/` and `test/` trees of the same classes.
    Imagefolder,
    /// The CIFAR-10 (`data_batch_*.bin`, `test_batch.bin`) or CIFAR-100 (`train.bin`,
    /// `test.bin`) binary release.
    Cifar,
    /// The MNIST family's IDX files (`train-images-idx3-ubyte`, ... gzipped or not).
    Idx,
}

impl DataFormat {
    /// Every format's name.
    pub const NAMES: &'static [&'static str] = &["imagefolder", "cifar", "idx"];

    /// The format called `name`.
    pub fn parse(name: &str) -> Result<DataFormat, DataError> {
        match name {
            "imagefolder" => Ok(DataFormat::Imagefolder),
            "cifar" => Ok(DataFormat::Cifar),
            "idx" => Ok(DataFormat::Idx),
            other => Err(DataError::Setting(format!(
                "unknown data format {other:?} (allowed: {})",
                Self::NAMES.join(", ")
            ))),
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            DataFormat::Imagefolder => "imagefolder",
            DataFormat::Cifar => "cifar",
            DataFormat::Idx => "idx",
        }
    }
}

/// The channels an image folder is decoded to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    /// One channel (colour images are converted to luminance).
    Grayscale,
    /// Three channels (grayscale images are repeated).
    Rgb,
}

/// Which of CIFAR-100's two labels the classes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CifarLabel {
    /// The 100 fine classes.
    Fine,
    /// The 20 coarse superclasses.
    Coarse,
}

/// The user's data set: the study file's `[data]` table, `--data PATH` and `--data-format`.
/// Every field but `path` is optional; [`DataSpec::resolve`] fills in the format and checks the
/// rest against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    /// The data set's folder.
    pub path: PathBuf,
    /// `imagefolder`, `cifar` or `idx` [default: detected from the folder's files].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<DataFormat>,
    /// Image folders: the side images are resized (shorter side) and centre-cropped to, 1 to
    /// 1024 [default: 32].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<u32>,
    /// Image folders: `grayscale` or `rgb` [default: the images' own, which must agree].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<Color>,
    /// CIFAR-100: `fine` (100 classes) or `coarse` (20) [default: fine].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<CifarLabel>,
}

impl DataSpec {
    /// A data set at `path`, everything else detected or default.
    pub fn new(path: impl Into<PathBuf>) -> DataSpec {
        DataSpec {
            path: path.into(),
            format: None,
            image_size: None,
            color: None,
            label: None,
        }
    }

    /// The format (after [`resolve`](Self::resolve); `idx` before, if none was given).
    pub fn data_format(&self) -> DataFormat {
        self.format.unwrap_or(DataFormat::Idx)
    }

    /// The spec with an absolute path, its format (detected when not given: refused when no
    /// format or several fit), and its settings checked against the format. `image_size` is
    /// written out for image folders, so a study keeps its size if the default changes.
    pub fn resolve(&self) -> Result<DataSpec, DataError> {
        // A stored study names its format: it is rebuilt (for `status`, on another machine)
        // without its data at hand; loading reports a missing folder.
        let path = match (std::fs::canonicalize(&self.path), self.format) {
            (Ok(p), _) => p,
            (Err(_), Some(_)) => std::path::absolute(&self.path).unwrap_or(self.path.clone()),
            (Err(e), None) => {
                return Err(DataError::Io {
                    path: self.path.display().to_string(),
                    reason: e.to_string(),
                })
            }
        };
        let format = match self.format {
            Some(f) => f,
            None if !path.is_dir() => {
                return Err(DataError::Layout {
                    path: path.display().to_string(),
                    reason: "not a folder (a data set is a folder: train/<class>/ images, CIFAR \
                             .bin files or IDX files)"
                        .into(),
                })
            }
            None => detect(&path)?,
        };
        let only = |setting: &str, set: bool, of: &str| {
            if set && format.name() != of {
                Err(DataError::Setting(format!(
                    "{setting} applies to the {of} format, but the data set {} is {}",
                    path.display(),
                    format.name()
                )))
            } else {
                Ok(())
            }
        };
        only("image_size", self.image_size.is_some(), "imagefolder")?;
        only("color", self.color.is_some(), "imagefolder")?;
        only("label", self.label.is_some(), "cifar")?;
        if let Some(size) = self.image_size {
            if size == 0 || size > MAX_IMAGE_SIZE {
                return Err(DataError::Setting(format!(
                    "image_size must be 1 to {MAX_IMAGE_SIZE} (got {size})"
                )));
            }
        }
        Ok(DataSpec {
            path,
            format: Some(format),
            image_size: (format == DataFormat::Imagefolder)
                .then(|| self.image_size.unwrap_or(DEFAULT_IMAGE_SIZE)),
            color: self.color,
            label: self.label,
        })
    }
}

fn idx_present(dir: &Path) -> bool {
    ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"]
        .iter()
        .any(|f| dir.join(f).is_file())
}

fn cifar_present(dir: &Path) -> bool {
    dir.join("train.bin").is_file() || dir.join("data_batch_1.bin").is_file()
}

/// The format of the data set in `dir`, when exactly one fits.
fn detect(dir: &Path) -> Result<DataFormat, DataError> {
    let found: Vec<DataFormat> = [
        (DataFormat::Imagefolder, dir.join("train").is_dir()),
        (DataFormat::Cifar, cifar_present(dir)),
        (DataFormat::Idx, idx_present(dir)),
    ]
    .into_iter()
    .filter_map(|(f, present)| present.then_some(f))
    .collect();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(DataError::Layout {
            path: dir.display().to_string(),
            reason: "no data set format recognised: expected train/<class>/ image folders \
                     (imagefolder), data_batch_1.bin or train.bin (cifar), or \
                     train-images-idx3-ubyte (idx)"
                .into(),
        }),
        several => Err(DataError::Layout {
            path: dir.display().to_string(),
            reason: format!(
                "ambiguous data set: it fits {}; choose one with --data-format (or format in \
                 [data])",
                several
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        }),
    }
}

/// How a data set is loaded: how many images the training and the validation split use (only
/// those are decoded and kept), and the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadOptions {
    /// Training images to keep (the recipe's `train_subset`).
    pub train_images: usize,
    /// Validation images to keep (the recipe's `valid_size`): from `val/` where an image
    /// folder has one, else held out of the training images (at most a fifth of them).
    pub valid_images: usize,
    /// The folder of decoded image folders (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// Show a progress bar on standard error while decoding (only on a terminal).
    pub progress: bool,
}

impl LoadOptions {
    /// The images a recipe uses, cached in [`default_cache_dir`], with a progress bar.
    pub fn for_recipe(config: &crate::TrainConfig) -> LoadOptions {
        LoadOptions {
            train_images: config.train_subset,
            valid_images: config.valid_size,
            cache_dir: default_cache_dir(),
            progress: true,
        }
    }
}

/// The decoded-data cache folder: `$LAYERNAS_DATA_CACHE` (`off`: none), else
/// `$XDG_CACHE_HOME/layernas/data`, else `~/.cache/layernas/data`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = env(CACHE_ENV) {
        return (dir != "off").then(|| PathBuf::from(dir));
    }
    env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("layernas").join("data"))
}

/// What loading a data set did.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadReport {
    /// Images decoded (0 when the cache had them).
    pub decoded: usize,
    /// Images in the loaded data (validation, training and test).
    pub images: usize,
    /// True when the images came from the cache.
    pub from_cache: bool,
    /// The cache file read or written, if any.
    pub cache_file: Option<PathBuf>,
    /// Why the cache could not be written, if it could not (the data loaded all the same).
    pub cache_error: Option<String>,
    /// Wall-clock seconds of the load.
    pub seconds: f64,
}

/// Loads the data set `spec` names (resolved or not): only the images `options` asks for are
/// decoded and kept. Image folders are decoded in parallel and cached (a file keyed by a hash of
/// the chosen images' contents, their classes and the preprocessing), so a second load reads
/// one file; CIFAR and IDX files are pixel arrays already and are read directly.
pub fn load(spec: &DataSpec, options: &LoadOptions) -> Result<(ImageData, LoadReport), DataError> {
    let start = Instant::now();
    let spec = spec.resolve()?;
    let (data, mut report) = match spec.data_format() {
        DataFormat::Imagefolder => folder::load(&spec, options)?,
        DataFormat::Cifar => cifar::load(&spec, options)?,
        DataFormat::Idx => idx_load(&spec, options)?,
    };
    report.seconds = start.elapsed().as_secs_f64();
    Ok((data, report))
}

/// Indices chosen from the splits: `valid` and `train` index the training items unless a
/// validation tree exists (then `valid` indexes it). Each list is sorted (files are read in
/// order); the trial's seed shuffles the training images later.
pub(crate) struct Selection {
    pub valid: Vec<usize>,
    pub valid_from_train: bool,
    pub train: Vec<usize>,
}

pub(crate) fn select(train_count: usize, val_count: Option<usize>, o: &LoadOptions) -> Selection {
    let mut rng = ChaCha8Rng::seed_from_u64(SELECTION_SEED);
    let mut order: Vec<usize> = (0..train_count).collect();
    order.shuffle(&mut rng);
    let (mut valid, mut train, valid_from_train) = match val_count {
        Some(n) => {
            let mut v: Vec<usize> = (0..n).collect();
            v.shuffle(&mut rng);
            v.truncate(o.valid_images);
            order.truncate(o.train_images);
            (v, order, false)
        }
        None => {
            let nv = o.valid_images.min(train_count / 5);
            let valid = order[..nv].to_vec();
            let train = order[nv..].iter().copied().take(o.train_images).collect();
            (valid, train, true)
        }
    };
    valid.sort_unstable();
    train.sort_unstable();
    Selection {
        valid,
        valid_from_train,
        train,
    }
}

/// Per-channel mean and standard deviation of values in [0, 1] over images `from..` of `data`
/// (the training images, after the validation split).
pub(crate) fn channel_stats(data: &Dataset, from: usize) -> (Vec<f32>, Vec<f32>) {
    let plane = data.rows * data.cols;
    let mut sum = vec![0f64; data.channels];
    let mut sq = vec![0f64; data.channels];
    let mut count = 0f64;
    for i in from..data.len() {
        let image = data.image(i);
        for c in 0..data.channels {
            for &p in &image[c * plane..(c + 1) * plane] {
                let v = p as f64 / 255.0;
                sum[c] += v;
                sq[c] += v * v;
            }
        }
        count += plane as f64;
    }
    let count = count.max(1.0);
    let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(q, m)| {
            let var = (q / count - m * m).max(0.0);
            // A constant channel would divide by zero.
            (var.sqrt() as f32).max(1e-3)
        })
        .collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}

/// Image data whose training set is `valid` followed by `train` (the validation split fixed),
/// normalised by the training images' per-channel statistics.
pub(crate) fn assemble(
    mut valid_then_train: Dataset,
    held_out: usize,
    mut test: Dataset,
    class_names: Vec<String>,
) -> ImageData {
    let (mean, std) = channel_stats(&valid_then_train, held_out);
    valid_then_train.mean = mean.clone();
    valid_then_train.std = std.clone();
    test.mean = mean;
    test.std = std;
    ImageData {
        train: valid_then_train,
        test,
        held_out: Some(held_out),
        class_names,
    }
}

/// The images `idx` of `data`, as a data set of their own.
pub(crate) fn subset(data: &Dataset, idx: impl IntoIterator<Item = usize>) -> Dataset {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for i in idx {
        pixels.extend_from_slice(data.image(i));
        labels.push(data.labels[i]);
    }
    Dataset {
        pixels,
        labels,
        ..data.clone_empty()
    }
}

impl Dataset {
    /// The same shape and statistics, no images.
    pub(crate) fn clone_empty(&self) -> Dataset {
        Dataset {
            pixels: Vec::new(),
            labels: Vec::new(),
            rows: self.rows,
            cols: self.cols,
            channels: self.channels,
            mean: self.mean.clone(),
            std: self.std.clone(),
        }
    }
}

fn idx_load(spec: &DataSpec, options: &LoadOptions) -> Result<(ImageData, LoadReport), DataError> {
    let (train, test) = read_idx_dir(&spec.path)?;
    if train.rows != train.cols || test.rows != train.rows || test.cols != train.cols {
        return Err(DataError::Layout {
            path: spec.path.display().to_string(),
            reason: format!(
                "the trainer takes square images of one size; the training images are {}x{}, \
                 the test images {}x{}",
                train.rows, train.cols, test.rows, test.cols
            ),
        });
    }
    let classes = train.classes().max(test.classes());
    if classes > MAX_CLASSES {
        return Err(DataError::Layout {
            path: spec.path.display().to_string(),
            reason: format!("{classes} classes; at most {MAX_CLASSES} are supported"),
        });
    }
    let s = select(train.len(), None, options);
    let pool = subset(&train, s.valid.iter().chain(&s.train).copied());
    let images = pool.len() + test.len();
    let data = assemble(
        pool,
        s.valid.len(),
        test,
        (0..classes).map(|c| c.to_string()).collect(),
    );
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

/// A progress bar on standard error, hidden when it is not a terminal (or when not wanted).
pub(crate) fn progress_bar(show: bool, len: usize, what: &str) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(len as u64),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} images ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(train: usize, valid: usize) -> LoadOptions {
        LoadOptions {
            train_images: train,
            valid_images: valid,
            cache_dir: None,
            progress: false,
        }
    }

    #[test]
    fn the_selection_is_fixed_disjoint_and_bounded() {
        let a = select(100, None, &opts(30, 50));
        let b = select(100, None, &opts(30, 50));
        assert_eq!((a.valid.clone(), a.train.clone()), (b.valid, b.train));
        // At most a fifth of the images are held out; the training images come from the rest.
        assert_eq!((a.valid.len(), a.train.len()), (20, 30));
        assert!(a.valid.iter().all(|v| !a.train.contains(v)));
        assert!(a.valid_from_train);
        let c = select(100, Some(7), &opts(500, 5));
        assert_eq!((c.valid.len(), c.train.len()), (5, 100));
        assert!(c.valid.iter().all(|&v| v < 7));
    }

    #[test]
    fn formats_are_detected_only_when_unambiguous() {
        let dir = tempfile::tempdir().unwrap();
        let err = detect(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no data set format recognised"), "{err}");
        std::fs::create_dir(dir.path().join("train")).unwrap();
        assert_eq!(detect(dir.path()).unwrap(), DataFormat::Imagefolder);
        std::fs::write(dir.path().join("train.bin"), b"").unwrap();
        let err = detect(dir.path()).unwrap_err().to_string();
        assert!(err.contains("imagefolder and cifar"), "{err}");
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        let spec = DataSpec {
            format: Some(DataFormat::Cifar),
            image_size: Some(64),
            ..DataSpec::new(dir.path())
        };
        let err = spec.resolve().unwrap_err().to_string();
        assert!(
            err.contains("image_size applies to the imagefolder format"),
            "{err}"
        );
    }
}

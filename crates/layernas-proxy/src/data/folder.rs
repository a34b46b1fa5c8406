//! Image folders: `train/<class>/*.{png,jpg,jpeg}`, optional `val/` and `test/` trees whose
//! classes are among `train/`'s. Images of any size are resized (shorter side to `image_size`,
//! triangle filter) and centre-cropped to `image_size` square, in their own channels (one or
//! three, which must agree) or forced to grayscale or RGB. Only the chosen images are read;
//! they are hashed and decoded in parallel, and the decoded set is cached.

use super::spec::{assemble, progress_bar, select, LoadOptions, LoadReport};
use super::{
    cache, Color, DataError, DataSpec, Dataset, ImageData, DEFAULT_IMAGE_SIZE, MAX_CLASSES,
};
use image::imageops::{self, FilterType};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Bumped when decoding changes, so that old cache files are not used.
const DECODER_VERSION: &str = "imagefolder-1";

const EXTENSIONS: &[&str] = &["png", "jpg", "jpeg"];

fn is_image(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn io_error(path: &Path, e: std::io::Error) -> DataError {
    DataError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// The entries of `dir` that are not hidden, sorted by name.
fn entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let entry = entry.map_err(|e| io_error(dir, e))?;
        let hidden = entry
            .file_name()
            .to_str()
            .is_none_or(|n| n.starts_with('.'));
        if !hidden {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Image files and their labels.
type Files = Vec<(PathBuf, u8)>;

/// The class folders of `root/split` and their images (with labels). `train` defines the
/// classes; another split's classes must be among them.
fn list(
    root: &Path,
    split: &str,
    train_classes: Option<&[String]>,
) -> Result<(Vec<String>, Files), DataError> {
    let dir = root.join(split);
    let layout = |path: &Path, reason: String| DataError::Layout {
        path: path.display().to_string(),
        reason,
    };
    let folders: Vec<PathBuf> = entries(&dir)?.into_iter().filter(|p| p.is_dir()).collect();
    if folders.is_empty() {
        return Err(layout(
            &dir,
            format!("no class folders (expected {split}/<class>/*.png, .jpg or .jpeg)"),
        ));
    }
    if train_classes.is_none() && folders.len() > MAX_CLASSES {
        return Err(layout(
            &dir,
            format!(
                "{} class folders; at most {MAX_CLASSES} classes are supported",
                folders.len()
            ),
        ));
    }
    let mut classes = Vec::new();
    let mut files = Vec::new();
    for (i, folder) in folders.iter().enumerate() {
        let name = folder
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let label = match train_classes {
            None => i,
            Some(known) => known.iter().position(|c| *c == name).ok_or_else(|| {
                layout(
                    folder,
                    format!(
                        "class {name:?} of {split}/ is not a class of train/ (train/ has {})",
                        known.join(", ")
                    ),
                )
            })?,
        };
        let images: Vec<PathBuf> = entries(folder)?
            .into_iter()
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        if images.is_empty() {
            return Err(layout(
                folder,
                "empty class folder: no .png, .jpg or .jpeg images".into(),
            ));
        }
        files.extend(images.into_iter().map(|p| (p, label as u8)));
        classes.push(name);
    }
    Ok((classes, files))
}

/// One decoded image: its values (`[channels, size, size]`) and its own channel count.
struct Decoded {
    values: Vec<u8>,
    native: usize,
}

fn corrupt(path: &Path, reason: String) -> DataError {
    DataError::Corrupt {
        path: path.display().to_string(),
        reason,
    }
}

/// A JPEG's last marker is EOI (`FF D9`); the decoder fills a cut-off image with grey instead
/// of failing, so a file without it is refused as truncated.
fn check_jpeg_end(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Ok(());
    }
    // Some writers pad after EOI; look at the last few bytes.
    let tail = &bytes[bytes.len().saturating_sub(64)..];
    if tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
        Ok(())
    } else {
        Err(corrupt(
            path,
            "truncated JPEG image (no end-of-image marker)".into(),
        ))
    }
}

fn decode(path: &Path, size: u32, color: Option<Color>) -> Result<Decoded, DataError> {
    let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
    check_jpeg_end(path, &bytes)?;
    let img = image::load_from_memory(&bytes)
        .map_err(|e| corrupt(path, format!("not a readable PNG or JPEG image: {e}")))?;
    let (w, h) = (img.width(), img.height());
    if w == 0 || h == 0 {
        return Err(corrupt(path, format!("empty image ({w}x{h})")));
    }
    let native = if img.color().has_color() { 3 } else { 1 };
    let channels = match color {
        Some(Color::Grayscale) => 1,
        Some(Color::Rgb) => 3,
        None => native,
    };
    // The shorter side becomes `size`, the longer one keeps the aspect ratio.
    let scaled = |long: u32, short: u32| {
        ((long as u64 * size as u64 + short as u64 / 2) / short as u64).max(size as u64) as u32
    };
    let (nw, nh) = if w <= h {
        (size, scaled(h, w))
    } else {
        (scaled(w, h), size)
    };
    let (x0, y0) = ((nw - size) / 2, (nh - size) / 2);
    let values = if channels == 1 {
        let g = img.to_luma8();
        let g = if (w, h) == (nw, nh) {
            g
        } else {
            imageops::resize(&g, nw, nh, FilterType::Triangle)
        };
        imageops::crop_imm(&g, x0, y0, size, size)
            .to_image()
            .into_raw()
    } else {
        let c = img.to_rgb8();
        let c = if (w, h) == (nw, nh) {
            c
        } else {
            imageops::resize(&c, nw, nh, FilterType::Triangle)
        };
        let hwc = imageops::crop_imm(&c, x0, y0, size, size)
            .to_image()
            .into_raw();
        let plane = (size * size) as usize;
        let mut chw = vec![0u8; 3 * plane];
        for (i, px) in hwc.chunks_exact(3).enumerate() {
            for (ch, &v) in px.iter().enumerate() {
                chw[ch * plane + i] = v;
            }
        }
        chw
    };
    Ok(Decoded { values, native })
}

fn channel_name(c: usize) -> &'static str {
    if c == 1 {
        "grayscale"
    } else {
        "RGB"
    }
}

pub(crate) fn load(
    spec: &DataSpec,
    options: &LoadOptions,
) -> Result<(ImageData, LoadReport), DataError> {
    let root = &spec.path;
    let size = spec.image_size.unwrap_or(DEFAULT_IMAGE_SIZE);
    let (classes, train_files) = list(root, "train", None)?;
    let split = |name: &str| -> Result<Option<Files>, DataError> {
        if root.join(name).is_dir() {
            Ok(Some(list(root, name, Some(&classes))?.1))
        } else {
            Ok(None)
        }
    };
    let val_files = split("val")?;
    let test_files = split("test")?.unwrap_or_default();
    let s = select(train_files.len(), val_files.as_ref().map(Vec::len), options);
    let valid_items: Vec<&(PathBuf, u8)> = match (&val_files, s.valid_from_train) {
        (Some(val), false) => s.valid.iter().map(|&i| &val[i]).collect(),
        _ => s.valid.iter().map(|&i| &train_files[i]).collect(),
    };
    let items: Vec<&(PathBuf, u8)> = valid_items
        .into_iter()
        .chain(s.train.iter().map(|&i| &train_files[i]))
        .chain(test_files.iter())
        .collect();
    let (n_valid, n_train) = (s.valid.len(), s.train.len());

    // The cache key: the chosen images' contents, their names, labels and roles, the classes
    // and the preprocessing.
    let bar = progress_bar(
        options.progress,
        items.len(),
        &format!("reading {}", root.display()),
    );
    let digests: Vec<[u8; 32]> = items
        .par_iter()
        .map(|(path, _)| {
            let bytes = std::fs::read(path).map_err(|e| io_error(path, e))?;
            bar.inc(1);
            Ok(Sha256::digest(&bytes).into())
        })
        .collect::<Result<_, DataError>>()?;
    bar.finish_and_clear();
    let mut key = Sha256::new();
    key.update(DECODER_VERSION);
    key.update(format!(
        "\0{size}\0{:?}\0{n_valid}\0{n_train}\0{}\0",
        spec.color,
        classes.join("\0")
    ));
    for ((path, label), digest) in items.iter().zip(&digests) {
        let rel = path.strip_prefix(root).unwrap_or(path);
        key.update(rel.to_string_lossy().as_bytes());
        key.update([0, *label]);
        key.update(digest);
    }
    let key: String = key.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let cache_file = options.cache_dir.as_ref().map(|d| cache::file(d, &key));
    if let Some(data) = cache_file.as_deref().and_then(cache::read) {
        let images = data.train.len() + data.test.len();
        return Ok((
            data,
            LoadReport {
                decoded: 0,
                images,
                from_cache: true,
                cache_file,
                cache_error: None,
                seconds: 0.0,
            },
        ));
    }

    let bar = progress_bar(
        options.progress,
        items.len(),
        &format!("decoding {}", root.display()),
    );
    let decoded: Vec<Result<Decoded, DataError>> = items
        .par_iter()
        .map(|(path, _)| {
            let d = decode(path, size, spec.color);
            bar.inc(1);
            d
        })
        .collect();
    bar.finish_and_clear();
    // The first failure in file order, whatever thread met it first.
    let decoded: Vec<Decoded> = decoded.into_iter().collect::<Result<_, _>>()?;
    let channels = match spec.color {
        Some(Color::Grayscale) => 1,
        Some(Color::Rgb) => 3,
        None => {
            let first = decoded.first().map_or(1, |d| d.native);
            if let Some(i) = decoded.iter().position(|d| d.native != first) {
                return Err(DataError::Layout {
                    path: items[i].0.display().to_string(),
                    reason: format!(
                        "images of mixed channel counts: this one is {} but {} is {}; set \
                         color = \"rgb\" or \"grayscale\" in [data]",
                        channel_name(decoded[i].native),
                        items[0].0.display(),
                        channel_name(first)
                    ),
                });
            }
            first
        }
    };
    let side = size as usize;
    let dataset = |range: std::ops::Range<usize>| {
        let mut pixels = Vec::with_capacity(range.len() * channels * side * side);
        let mut labels = Vec::with_capacity(range.len());
        for i in range {
            pixels.extend_from_slice(&decoded[i].values);
            labels.push(items[i].1);
        }
        Dataset {
            pixels,
            labels,
            rows: side,
            cols: side,
            channels,
            mean: Vec::new(),
            std: Vec::new(),
        }
    };
    let train = dataset(0..n_valid + n_train);
    let test = dataset(n_valid + n_train..items.len());
    let data = assemble(train, n_valid, test, classes);
    let cache_error = cache_file
        .as_deref()
        .and_then(|f| cache::write(f, &data).err());
    Ok((
        data,
        LoadReport {
            decoded: items.len(),
            images: items.len(),
            from_cache: false,
            cache_file,
            cache_error,
            seconds: 0.0,
        },
    ))
}

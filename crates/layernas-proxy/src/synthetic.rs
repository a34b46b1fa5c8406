//! Small learnable image data sets written to disk in the formats [`load`](crate::load) reads:
//! for the tests, the decoding benchmark and examples. Four classes a small network tells apart
//! in one or two epochs (stripes of three orientations and a disk), each image with its own
//! stripe frequency and phase, disk position and size, colour tint and noise. Balanced classes:
//! guessing scores 25%.

use image::{ImageFormat, Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// The classes, by label.
pub const CLASSES: [&str; 4] = ["horizontal", "vertical", "diagonal", "disk"];

/// A `width` x `height` image of class `class` (0 to 3), drawn from `seed`.
pub fn pattern(class: usize, width: u32, height: u32, seed: u64) -> RgbImage {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cycles = rng.random_range(2.5..4.5f32);
    let phase = rng.random_range(0.0..1.0f32);
    let (cx, cy) = (rng.random_range(0.4..0.6f32), rng.random_range(0.4..0.6f32));
    let radius = rng.random_range(0.18..0.3f32);
    let tint = [
        rng.random_range(0.6..1.0f32),
        rng.random_range(0.6..1.0f32),
        rng.random_range(0.6..1.0f32),
    ];
    let mut img = RgbImage::new(width, height);
    let short = width.min(height) as f32;
    for y in 0..height {
        for x in 0..width {
            // Coordinates relative to the centred square the loader keeps.
            let u = (x as f32 - (width as f32 - short) / 2.0) / short;
            let v = (y as f32 - (height as f32 - short) / 2.0) / short;
            let wave = |t: f32| (std::f32::consts::TAU * (cycles * t + phase)).sin();
            let s = match class % 4 {
                0 => wave(v),
                1 => wave(u),
                2 => wave((u + v) * std::f32::consts::FRAC_1_SQRT_2),
                _ => {
                    if ((u - cx).powi(2) + (v - cy).powi(2)).sqrt() < radius {
                        1.0
                    } else {
                        -1.0
                    }
                }
            };
            let noise = rng.random_range(-20.0..20.0f32);
            let value = 128.0 + 90.0 * s + noise;
            let px = tint.map(|t| (value * t).clamp(0.0, 255.0) as u8);
            img.put_pixel(x, y, Rgb(px));
        }
    }
    img
}

/// How [`write_image_folder`] lays out its images.
#[derive(Debug, Clone, Copy)]
pub struct FolderLayout {
    /// Training images per class.
    pub train: usize,
    /// Images per class of a `val/` tree (none when 0).
    pub val: usize,
    /// Images per class of a `test/` tree (none when 0).
    pub test: usize,
    /// The smallest and largest side, in pixels (each image's width and height are drawn in
    /// this range, so sizes and aspect ratios are mixed).
    pub sides: (u32, u32),
    /// RGB images, or grayscale ones.
    pub rgb: bool,
    /// The seed of every draw.
    pub seed: u64,
}

/// Writes an image folder (`train/<class>/`, `val/` and `test/` as `layout` says) of the four
/// classes under `root`: every other image a PNG, the others JPEGs (quality 90).
pub fn write_image_folder(root: &Path, layout: FolderLayout) -> std::io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(layout.seed);
    for (split, per_class) in [
        ("train", layout.train),
        ("val", layout.val),
        ("test", layout.test),
    ] {
        if per_class == 0 {
            continue;
        }
        for (class, name) in CLASSES.iter().enumerate() {
            let dir = root.join(split).join(name);
            std::fs::create_dir_all(&dir)?;
            for i in 0..per_class {
                let w = rng.random_range(layout.sides.0..=layout.sides.1);
                let h = rng.random_range(layout.sides.0..=layout.sides.1);
                let img = pattern(class, w, h, rng.random());
                let (ext, format) = if i % 2 == 0 {
                    ("png", ImageFormat::Png)
                } else {
                    ("jpg", ImageFormat::Jpeg)
                };
                let path = dir.join(format!("{i:05}.{ext}"));
                let result = if layout.rgb {
                    img.save_with_format(&path, format)
                } else {
                    image::DynamicImage::ImageRgb8(img)
                        .to_luma8()
                        .save_with_format(&path, format)
                };
                result.map_err(std::io::Error::other)?;
            }
        }
    }
    Ok(())
}

/// The CIFAR-10 binary record of a 32x32 pattern image of class `class`: the label byte, then
/// the red, green and blue planes.
pub fn cifar_record(class: usize, seed: u64) -> Vec<u8> {
    let img = pattern(class, 32, 32, seed);
    let mut record = vec![class as u8];
    for ch in 0..3 {
        record.extend(img.pixels().map(|p| p.0[ch]));
    }
    record
}

/// Writes a CIFAR-10 binary release into `dir`: `batches` training files
/// (`data_batch_1.bin`, ...) of `per_batch` records each, and `test_batch.bin` of `test`
/// records, classes in turn (labels 0 to 3 of CIFAR-10's 10).
pub fn write_cifar10(
    dir: &Path,
    batches: usize,
    per_batch: usize,
    test: usize,
    seed: u64,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut batch = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| cifar_record(i % CLASSES.len(), rng.random()))
            .collect()
    };
    for b in 1..=batches {
        std::fs::write(dir.join(format!("data_batch_{b}.bin")), batch(per_batch))?;
    }
    std::fs::write(dir.join("test_batch.bin"), batch(test))?;
    Ok(())
}

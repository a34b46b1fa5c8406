//! The user's data sets: image folders (PNG and JPEG, any size, grayscale or RGB), the CIFAR
//! binary releases and IDX files load into the trainer's layout with their own normalisation,
//! only the images used are kept, a second load reads the cache, and every kind of bad data is
//! refused with one line naming the file or folder at fault.

use layernas_proxy::synthetic::{cifar_record, write_cifar10, write_image_folder, FolderLayout};
use layernas_proxy::{
    batch_data, load, CifarLabel, Color, DataFormat, DataSpec, ImageData, LoadOptions, Plan,
    TrainConfig,
};
use std::path::Path;

fn options(train: usize, valid: usize, cache: Option<&Path>) -> LoadOptions {
    LoadOptions {
        train_images: train,
        valid_images: valid,
        cache_dir: cache.map(Path::to_path_buf),
        progress: false,
    }
}

fn layout(train: usize, val: usize, test: usize, rgb: bool) -> FolderLayout {
    FolderLayout {
        train,
        val,
        test,
        sides: (12, 40),
        rgb,
        seed: 3,
    }
}

fn folder(l: FolderLayout) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_image_folder(dir.path(), l).unwrap();
    dir
}

fn error(spec: &DataSpec) -> String {
    let e = load(spec, &options(1000, 100, None))
        .expect_err("the bad data set was accepted")
        .to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    e
}

/// Normalised training images have per-channel mean 0 and standard deviation 1.
fn assert_normalised(data: &ImageData) {
    let held = data.held_out.unwrap_or(0);
    let idx: Vec<usize> = (held..data.train.len()).collect();
    let (pixels, _) = batch_data(&data.train, &idx);
    let plane = data.train.rows * data.train.cols;
    for ch in 0..data.train.channels {
        let values: Vec<f64> = pixels
            .chunks(plane)
            .skip(ch)
            .step_by(data.train.channels)
            .flatten()
            .map(|&v| v as f64)
            .collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
        assert!(mean.abs() < 1e-3, "channel {ch}: mean {mean}");
        assert!(
            (var.sqrt() - 1.0).abs() < 1e-3,
            "channel {ch}: std {}",
            var.sqrt()
        );
    }
}

#[test]
fn an_image_folder_of_mixed_sizes_loads_resized_cropped_and_normalised() {
    let dir = folder(layout(10, 0, 3, true));
    let spec = DataSpec {
        image_size: Some(16),
        ..DataSpec::new(dir.path())
    };
    let (data, report) = load(&spec, &options(1000, 1000, None)).unwrap();
    assert_eq!(
        spec.resolve().unwrap().format,
        Some(DataFormat::Imagefolder)
    );
    assert_eq!(
        (data.train.rows, data.train.cols, data.train.channels),
        (16, 16, 3)
    );
    assert_eq!(
        data.class_names,
        ["diagonal", "disk", "horizontal", "vertical"]
    );
    assert_eq!((data.train.len(), data.test.len()), (40, 12));
    // No val/ tree: a fifth of the training images are held out, fixed by the data.
    assert_eq!(data.held_out, Some(8));
    assert_eq!(
        data.test.mean, data.train.mean,
        "test images use the training statistics"
    );
    assert_eq!(report.decoded, 52);
    assert_normalised(&data);
    // Grayscale images stay grayscale, or are forced to RGB.
    let gray = folder(layout(3, 0, 0, false));
    let (data, _) = load(&DataSpec::new(gray.path()), &options(1000, 0, None)).unwrap();
    assert_eq!((data.train.channels, data.train.rows), (1, 32));
    assert!(data.test.is_empty());
    let rgb = DataSpec {
        color: Some(Color::Rgb),
        ..DataSpec::new(gray.path())
    };
    let (data, _) = load(&rgb, &options(1000, 0, None)).unwrap();
    assert_eq!(data.train.channels, 3);
    let plane = 32 * 32;
    let image = data.train.image(0);
    assert_eq!(image[..plane], image[plane..2 * plane], "gray repeated");
}

#[test]
fn only_the_images_used_are_decoded_and_a_val_tree_is_the_validation_split() {
    let dir = folder(layout(25, 4, 0, true));
    let (data, report) = load(&DataSpec::new(dir.path()), &options(10, 6, None)).unwrap();
    // 6 validation images from val/ (16 there), 10 training images from train/ (100 there).
    assert_eq!(data.held_out, Some(6));
    assert_eq!((data.train.len(), report.decoded), (16, 16));
    let config = TrainConfig {
        train_subset: 10,
        ..TrainConfig::default()
    };
    let plan = Plan::for_data(&data, &config, 5);
    assert_eq!(plan.valid, (0..6).collect::<Vec<_>>());
    let mut train = plan.train.clone();
    train.sort();
    assert_eq!(train, (6..16).collect::<Vec<_>>());
}

#[test]
fn a_second_load_reads_the_cache_and_a_changed_image_is_decoded_again() {
    let dir = folder(layout(6, 0, 2, true));
    let cache = tempfile::tempdir().unwrap();
    let spec = DataSpec::new(dir.path());
    let o = options(1000, 1000, Some(cache.path()));
    let (first, report) = load(&spec, &o).unwrap();
    assert!(!report.from_cache && report.decoded == 32, "{report:?}");
    assert_eq!(report.cache_error, None);
    let (second, report) = load(&spec, &o).unwrap();
    assert!(report.from_cache && report.decoded == 0, "{report:?}");
    assert_eq!(first, second);
    // Another preprocessing is another cache file.
    let smaller = DataSpec {
        image_size: Some(8),
        ..spec.clone()
    };
    let (_, report) = load(&smaller, &o).unwrap();
    assert!(!report.from_cache);
    // A changed image changes the key.
    let image = dir.path().join("train/disk/00000.png");
    layernas_proxy::synthetic::pattern(0, 20, 20, 99)
        .save(&image)
        .unwrap();
    let (third, report) = load(&spec, &o).unwrap();
    assert!(
        !report.from_cache,
        "a changed image was served from the cache"
    );
    assert_ne!(first.train.pixels, third.train.pixels);
}

#[test]
fn an_unreadable_or_truncated_image_is_named() {
    let dir = folder(layout(2, 0, 0, true));
    let spec = DataSpec::new(dir.path());
    let png = dir.path().join("train/vertical/00000.png");
    let jpg = dir.path().join("train/vertical/00001.jpg");
    let (png_bytes, jpg_bytes) = (std::fs::read(&png).unwrap(), std::fs::read(&jpg).unwrap());

    std::fs::write(&png, &png_bytes[..png_bytes.len() / 2]).unwrap();
    let e = error(&spec);
    assert!(e.contains(&png.display().to_string()), "{e}");
    assert!(e.contains("not a readable PNG or JPEG image"), "{e}");
    std::fs::write(&png, &png_bytes).unwrap();

    std::fs::write(&jpg, &jpg_bytes[..jpg_bytes.len() * 2 / 3]).unwrap();
    let e = error(&spec);
    assert!(e.contains(&jpg.display().to_string()), "{e}");
    assert!(e.contains("truncated JPEG"), "{e}");

    std::fs::write(&jpg, b"this is no image").unwrap();
    let e = error(&spec);
    assert!(e.contains(&jpg.display().to_string()), "{e}");
}

#[test]
fn an_empty_class_folder_is_named() {
    let dir = folder(layout(2, 0, 0, true));
    let empty = dir.path().join("train/zebra");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("notes.txt"), "no images here").unwrap();
    let e = error(&DataSpec::new(dir.path()));
    assert!(e.contains(&empty.display().to_string()), "{e}");
    assert!(e.contains("empty class folder"), "{e}");
}

#[test]
fn a_class_of_val_missing_from_train_is_named() {
    let dir = folder(layout(2, 1, 0, true));
    let stray = dir.path().join("val/zebra");
    std::fs::create_dir(&stray).unwrap();
    std::fs::copy(
        dir.path().join("val/disk/00000.png"),
        stray.join("00000.png"),
    )
    .unwrap();
    let e = error(&DataSpec::new(dir.path()));
    assert!(e.contains(&stray.display().to_string()), "{e}");
    assert!(e.contains("is not a class of train/"), "{e}");
}

#[test]
fn mixed_channel_counts_are_refused_unless_a_color_is_forced() {
    let dir = folder(layout(2, 0, 0, true));
    let gray = dir.path().join("train/horizontal/00001.png");
    image::DynamicImage::ImageRgb8(layernas_proxy::synthetic::pattern(0, 20, 20, 1))
        .to_luma8()
        .save(&gray)
        .unwrap();
    let spec = DataSpec::new(dir.path());
    let e = error(&spec);
    assert!(e.contains(&gray.display().to_string()), "{e}");
    assert!(e.contains("mixed channel counts"), "{e}");
    for (color, channels) in [(Color::Grayscale, 1), (Color::Rgb, 3)] {
        let forced = DataSpec {
            color: Some(color),
            ..spec.clone()
        };
        let (data, _) = load(&forced, &options(1000, 0, None)).unwrap();
        assert_eq!(data.train.channels, channels);
    }
}

#[test]
fn cifar10_batches_load_only_the_chosen_records() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path(), 2, 30, 12, 1).unwrap();
    let spec = DataSpec::new(dir.path());
    assert_eq!(spec.resolve().unwrap().format, Some(DataFormat::Cifar));
    let (data, _) = load(&spec, &options(20, 5, None)).unwrap();
    assert_eq!(
        (data.train.len(), data.held_out, data.test.len()),
        (25, Some(5), 12)
    );
    assert_eq!(
        (data.train.rows, data.train.channels, data.classes()),
        (32, 3, 10)
    );
    assert_normalised(&data);
    // The test set is every record of test_batch.bin, in order.
    let record = cifar_record(0, 0);
    assert_eq!(data.test.labels[..4], [0, 1, 2, 3]);
    assert_eq!(data.test.image(0).len(), record.len() - 1);
}

#[test]
fn a_truncated_cifar_batch_is_named() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path(), 2, 5, 3, 1).unwrap();
    let batch = dir.path().join("data_batch_2.bin");
    let bytes = std::fs::read(&batch).unwrap();
    std::fs::write(&batch, &bytes[..bytes.len() - 100]).unwrap();
    let e = error(&DataSpec::new(dir.path()));
    assert!(e.contains(&batch.display().to_string()), "{e}");
    assert!(e.contains("truncated CIFAR batch"), "{e}");
}

#[test]
fn cifar_labels_out_of_range_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path(), 1, 5, 3, 1).unwrap();
    let batch = dir.path().join("data_batch_1.bin");
    let mut bytes = std::fs::read(&batch).unwrap();
    bytes[3 * 3073] = 10;
    std::fs::write(&batch, &bytes).unwrap();
    let e = error(&DataSpec::new(dir.path()));
    assert!(e.contains(&batch.display().to_string()), "{e}");
    assert!(
        e.contains("record 3: label 10 out of range (0 to 9)"),
        "{e}"
    );
}

/// CIFAR-100's records carry a coarse and a fine label; `label` picks one.
#[test]
fn cifar100_has_fine_and_coarse_labels() {
    let dir = tempfile::tempdir().unwrap();
    let record = |coarse: u8, fine: u8, seed: u64| {
        let mut r = vec![coarse, fine];
        r.extend_from_slice(&cifar_record(0, seed)[1..]);
        r
    };
    let train: Vec<u8> = (0..10u8)
        .flat_map(|i| record(i % 20, 50 + i, i as u64))
        .collect();
    std::fs::write(dir.path().join("train.bin"), &train).unwrap();
    std::fs::write(dir.path().join("test.bin"), record(19, 99, 7)).unwrap();
    let spec = DataSpec::new(dir.path());
    let (fine, _) = load(&spec, &options(100, 0, None)).unwrap();
    assert_eq!((fine.classes(), fine.test.labels.clone()), (100, vec![99]));
    let coarse = DataSpec {
        label: Some(CifarLabel::Coarse),
        ..spec.clone()
    };
    let (coarse, _) = load(&coarse, &options(100, 0, None)).unwrap();
    assert_eq!(
        (coarse.classes(), coarse.test.labels.clone()),
        (20, vec![19])
    );
    let mut sorted = coarse.train.labels.clone();
    sorted.sort();
    assert_eq!(sorted, (0..10).collect::<Vec<u8>>());
    // Out of range: a fine label of 100.
    std::fs::write(dir.path().join("test.bin"), record(3, 100, 7)).unwrap();
    let e = error(&spec);
    assert!(e.contains("test.bin"), "{e}");
    assert!(e.contains("label 100 out of range (0 to 99)"), "{e}");
    // CIFAR-10 has no coarse label.
    let ten = tempfile::tempdir().unwrap();
    write_cifar10(ten.path(), 1, 4, 4, 1).unwrap();
    let e = error(&DataSpec {
        label: Some(CifarLabel::Coarse),
        ..DataSpec::new(ten.path())
    });
    assert!(e.contains("CIFAR-100's"), "{e}");
}

/// IDX files through `--data`: the MNIST family, normalised by their own statistics.
#[test]
fn idx_files_load_with_their_own_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let idx = |dims: &[u32], data: &[u8]| {
        let mut v = vec![0, 0, 8, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(data);
        v
    };
    let pixels: Vec<u8> = (0..50 * 8 * 8).map(|i| (i * 7 % 256) as u8).collect();
    let labels: Vec<u8> = (0..50).map(|i| i % 3).collect();
    for (name, dims, data) in [
        ("train-images-idx3-ubyte", vec![50, 8, 8], &pixels[..]),
        ("train-labels-idx1-ubyte", vec![50], &labels[..]),
        ("t10k-images-idx3-ubyte", vec![5, 8, 8], &pixels[..5 * 64]),
        ("t10k-labels-idx1-ubyte", vec![5], &labels[..5]),
    ] {
        std::fs::write(dir.path().join(name), idx(&dims, data)).unwrap();
    }
    let spec = DataSpec::new(dir.path());
    assert_eq!(spec.resolve().unwrap().format, Some(DataFormat::Idx));
    let (data, _) = load(&spec, &options(30, 5, None)).unwrap();
    assert_eq!(
        (data.train.len(), data.held_out, data.test.len()),
        (35, Some(5), 5)
    );
    assert_eq!((data.classes(), data.input().resolution), (3, 8));
    assert_normalised(&data);
}

/// Augmentation is deterministic for a seed, differs across seeds, and leaves the split, the
/// batches and the unaugmented values alone.
#[test]
fn augmentation_is_deterministic_for_a_seed() {
    let dir = folder(layout(4, 0, 0, true));
    let (data, _) = load(&DataSpec::new(dir.path()), &options(1000, 0, None)).unwrap();
    let plain = TrainConfig::default();
    let augmented = TrainConfig {
        random_crop: 4,
        horizontal_flip: true,
        ..TrainConfig::default()
    };
    let batches = |config: &TrainConfig, seed: u64| {
        let mut plan = Plan::for_data(&data, config, seed);
        let order = plan.epoch();
        let values: Vec<Vec<f32>> = order
            .iter()
            .map(|b| plan.train_batch(&data.train, b).0)
            .collect();
        (order, values)
    };
    let (order, values) = batches(&plain, 1);
    assert_eq!(values[0], batch_data(&data.train, &order[0]).0);
    let (aug_order, aug) = batches(&augmented, 1);
    assert_eq!(aug_order, order, "augmentation changed the batches");
    assert_ne!(aug, values, "nothing was augmented");
    assert_eq!(batches(&augmented, 1).1, aug, "one seed, two augmentations");
    assert_ne!(batches(&augmented, 2).1, aug);
    // The serialised recipe names the knobs only when they are set.
    let text = serde_json::to_string(&plain).unwrap();
    assert!(!text.contains("random_crop") && !text.contains("horizontal_flip"));
    assert!(!text.contains("skip_test"));
    let skips = TrainConfig {
        skip_test: true,
        ..TrainConfig::default()
    };
    let text = serde_json::to_string(&skips).unwrap();
    assert!(text.contains("\"skip_test\":true"), "{text}");
    assert_eq!(serde_json::from_str::<TrainConfig>(&text).unwrap(), skips);
    assert!(serde_json::to_string(&augmented)
        .unwrap()
        .contains("random_crop"));
}

//! Images loaded per second from an image folder: the first load (read, hash, decode, resize,
//! crop, write the cache) against a cached one (read, hash, read the cache file). Run with
//! `cargo bench -p layernas-proxy --bench decode` (a release build); prints the median and the
//! spread over several runs of each.
//!
//! The folder: the four synthetic classes of `layernas_proxy::synthetic`, 2,400 training and 200
//! test images of 48 to 128 pixels a side, half PNG and half JPEG, resized and cropped to 32x32
//! RGB. `LAYERNAS_BENCH_IMAGES` sets the training images per class (default 600),
//! `LAYERNAS_BENCH_RUNS` the runs of each kind (default 5).

use layernas_proxy::synthetic::{write_image_folder, FolderLayout};
use layernas_proxy::{load, DataSpec, LoadOptions};
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn summary(name: &str, rates: &mut [f64]) {
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    println!(
        "{name:<26} median {median:>9.0} images/s   min {:>9.0}   max {:>9.0}   ({} runs)",
        rates[0],
        rates[rates.len() - 1],
        rates.len()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no other arguments.
    let per_class = env("LAYERNAS_BENCH_IMAGES", 600);
    let runs = env("LAYERNAS_BENCH_RUNS", 5).max(1);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let root = dir.path().join("images");
    let cache = dir.path().join("cache");
    let layout = FolderLayout {
        train: per_class,
        val: 0,
        test: 50,
        sides: (48, 128),
        rgb: true,
        seed: 1,
    };
    let started = Instant::now();
    write_image_folder(&root, layout).expect("the folder is written");
    println!(
        "image folder: {} training and {} test images written in {:.1} s ({} threads decode)",
        4 * per_class,
        4 * layout.test,
        started.elapsed().as_secs_f64(),
        rayon::current_num_threads()
    );
    let spec = DataSpec::new(&root);
    let options = LoadOptions {
        train_images: 4 * per_class,
        valid_images: 0,
        cache_dir: Some(cache.clone()),
        progress: false,
    };
    let mut first = Vec::new();
    let mut cached = Vec::new();
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(&cache);
        let t = Instant::now();
        let (data, report) = load(&spec, &options).expect("the folder loads");
        let seconds = t.elapsed().as_secs_f64();
        assert!(!report.from_cache && report.decoded == report.images);
        first.push(report.images as f64 / seconds);
        let t = Instant::now();
        let (again, report) = load(&spec, &options).expect("the folder loads");
        let seconds = t.elapsed().as_secs_f64();
        assert!(report.from_cache, "the second load reads the cache");
        assert_eq!(data, again, "the cache gives back the decoded images");
        cached.push(report.images as f64 / seconds);
    }
    summary("first load (decode)", &mut first);
    summary("cached (hash + read)", &mut cached);
}

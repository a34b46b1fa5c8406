//! The deployment path side by side, in one run (`cargo bench -p layernas-latency --bench
//! deploy`, a release build):
//! 1. images loaded per second from an image folder: the first load (read, hash, decode,
//!    resize, crop, write the cache) against a cached one (read, hash, read the cache file);
//! 2. for fashion-cnn and nats-sss, with burn and with tract: the latency table's time, and how
//!    well it predicts 50 random whole networks it was not measured on (Spearman rank
//!    correlation, mean error), over several runs (each a fresh table and fresh networks);
//! 3. tract against burn on the same whole networks.
//!
//! Every figure prints its median and spread over the runs. The folder: the four synthetic
//! classes of `layernas_proxy::synthetic`, 2,400 training and 200 test images of 48 to 128
//! pixels a side, half PNG and half JPEG, resized and cropped to 32x32 RGB.
//! `LAYERNAS_BENCH_IMAGES` sets the training images per class (default 600),
//! `LAYERNAS_BENCH_RUNS` the runs (default 3), `LAYERNAS_BENCH_CHECK` the networks checked
//! (default 50).

use layernas_latency::{Engine, Method, Profiler};
use layernas_proxy::synthetic::{write_image_folder, FolderLayout};
use layernas_proxy::{load, DataSpec, LoadOptions};
use layernas_spaces::{nats_sss_space, space_from_toml, TemplateSpace};
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `median (min to max)` of `values`, each printed by `fmt`.
fn spread(values: &[f64], fmt: impl Fn(f64) -> String) -> String {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    format!(
        "{} ({} to {})",
        fmt(v[v.len() / 2]),
        fmt(v[0]),
        fmt(v[v.len() - 1])
    )
}

fn decode(per_class: usize, runs: usize) {
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
    write_image_folder(&root, layout).expect("the folder is written");
    println!(
        "## Decoding: {} training and {} test images, {} threads decode, {runs} runs\n",
        4 * per_class,
        4 * layout.test,
        rayon::current_num_threads()
    );
    let spec = DataSpec::new(&root);
    let options = LoadOptions {
        train_images: 4 * per_class,
        valid_images: 0,
        cache_dir: Some(cache.clone()),
        progress: false,
    };
    let (mut first, mut cached) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(&cache);
        let t = Instant::now();
        let (data, report) = load(&spec, &options).expect("the folder loads");
        first.push(report.images as f64 / t.elapsed().as_secs_f64());
        assert!(!report.from_cache && report.decoded == report.images);
        let t = Instant::now();
        let (again, report) = load(&spec, &options).expect("the folder loads");
        cached.push(report.images as f64 / t.elapsed().as_secs_f64());
        assert!(report.from_cache, "the second load reads the cache");
        assert_eq!(data, again, "the cache gives back the decoded images");
    }
    let rate = |x: f64| format!("{x:.0}");
    println!("| load | images/s, median (min to max) |\n|---|---|");
    println!(
        "| first (decode, write the cache) | {} |",
        spread(&first, rate)
    );
    println!(
        "| cached (hash, read the cache) | {} |",
        spread(&cached, rate)
    );
    let (f, c) = (first.clone(), cached.clone());
    let ratios: Vec<f64> = c.iter().zip(&f).map(|(c, f)| c / f).collect();
    println!(
        "\ncached / first: {}\n",
        spread(&ratios, |x| format!("{x:.1}x"))
    );
}

struct Row {
    table_seconds: Vec<f64>,
    spearman: Vec<f64>,
    error: Vec<f64>,
    network_ms: Vec<f64>,
}

fn latency(name: &str, space: &TemplateSpace, runs: usize, networks: usize) {
    println!(
        "## Latency tables: {name} ({} layer configurations), {networks} random networks checked per run, {runs} runs\n",
        layernas_spaces::distinct_layers(space).len()
    );
    let method = Method::default();
    let mut rows: Vec<Row> = Engine::ALL
        .iter()
        .map(|_| Row {
            table_seconds: Vec::new(),
            spearman: Vec::new(),
            error: Vec::new(),
            network_ms: Vec::new(),
        })
        .collect();
    let mut ratios = Vec::new();
    for run in 0..runs {
        let mut measured = Vec::new();
        for (engine, row) in Engine::ALL.into_iter().zip(&mut rows) {
            let profiler = Profiler::new(engine, method, run as u64).expect("valid knobs");
            let t = Instant::now();
            let table = profiler
                .table(space, |_, _| {})
                .expect("the table is measured");
            row.table_seconds.push(t.elapsed().as_secs_f64());
            // The same networks for both engines in a run, new ones each run.
            let check = profiler
                .check(space, &table, networks, 1000 + run as u64, |_, _| {})
                .expect("the networks are measured");
            eprintln!(
                "{name} run {run} {engine}: Spearman {:.3}, mean error {:.1}%",
                check.spearman,
                100.0 * check.mean_error
            );
            row.spearman.push(check.spearman);
            row.error.push(check.mean_error);
            let ms: Vec<f64> = check.networks.iter().map(|n| n.measured_ms).collect();
            row.network_ms
                .push(layernas_latency::timing::median(ms.clone()));
            measured.push(ms);
        }
        let per_network: Vec<f64> = measured[1]
            .iter()
            .zip(&measured[0])
            .map(|(tract, burn)| tract / burn)
            .collect();
        ratios.push(layernas_latency::timing::median(per_network));
    }
    println!("| engine | table time (s) | Spearman | mean error | median network (ms) |");
    println!("|---|---|---|---|---|");
    for (engine, row) in Engine::ALL.into_iter().zip(&rows) {
        println!(
            "| {engine} | {} | {} | {} | {} |",
            spread(&row.table_seconds, |x| format!("{x:.1}")),
            spread(&row.spearman, |x| format!("{x:.3}")),
            spread(&row.error, |x| format!("{:.1}%", 100.0 * x)),
            spread(&row.network_ms, |x| format!("{x:.3}")),
        );
    }
    println!(
        "\ntract / burn on the same networks (median over the networks of a run): {}\n",
        spread(&ratios, |x| format!("{x:.2}x"))
    );
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no other arguments.
    let runs = env("LAYERNAS_BENCH_RUNS", 3).max(1);
    let networks = env("LAYERNAS_BENCH_CHECK", 50).max(2);
    println!(
        "# Data in, latency out ({} CPU threads)\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    decode(env("LAYERNAS_BENCH_IMAGES", 600), runs);
    let fashion = space_from_toml(
        include_str!("../../../examples/spaces/fashion-cnn.toml"),
        "fashion-cnn.toml",
    )
    .expect("the example space parses");
    latency("fashion-cnn", &fashion, runs, networks);
    latency(
        "nats-sss (CIFAR-10)",
        &nats_sss_space(32, 10),
        runs,
        networks,
    );
}

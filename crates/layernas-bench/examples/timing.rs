//! Times the bench's default grid through the library: `cargo run --release -p layernas-bench
//! --example timing [-- RUNS [SEEDS [DIR]]]`. Prints the wall-clock seconds of each run of
//! `run_bench` (the searches and their scoring) and, given DIR, of writing the last run's report
//! there.

use layernas_bench::{run_bench, write_report, BenchConfig};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let seeds: Option<usize> = args.next().and_then(|a| a.parse().ok());
    let dir = args.next();
    let mut config = BenchConfig::default();
    if let Some(s) = seeds {
        config.seeds = s;
    }
    let mut last = None;
    for i in 0..runs {
        let start = Instant::now();
        let results = match run_bench(&config) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        };
        println!(
            "run {}: {:.2} s wall ({} runs, {} seeds, {} threads)",
            i + 1,
            start.elapsed().as_secs_f64(),
            results.runs.len(),
            config.seeds,
            results.threads
        );
        last = Some(results);
    }
    if let (Some(dir), Some(results)) = (dir, last) {
        let start = Instant::now();
        if let Err(e) = write_report(&results, std::path::Path::new(&dir)) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        println!(
            "report written to {dir} in {:.2} s",
            start.elapsed().as_secs_f64()
        );
    }
}

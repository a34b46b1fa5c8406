//! A search on the user's own images: `layernas search --data DIR` trains every candidate on an
//! image folder (PNG and JPEG of mixed sizes) or a CIFAR-format release built here, and its
//! answer clearly beats chance; the command evaluator is told where the data is.
//!
//! The data: `layernas_train::synthetic`'s four balanced classes (stripes of three orientations
//! and a disk), so guessing scores 25%.

use layernas_train::synthetic::{write_cifar10, write_image_folder, FolderLayout};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Guessing among four balanced classes.
const CHANCE: f64 = 25.0;
/// How far above chance the answer must be.
const MARGIN: f64 = 30.0;

/// A space of small CNNs (its declared input is replaced by the data's).
const SPACE: &str = r#"
name = "tiny-cnn"
classes = 10
input = { resolution = 32, channels = 3 }

[[layers]]
name = "stem"
op = "conv"
out = [8, 16]
kernel = 3
stride = 2
act = "relu"

[[layers]]
name = "c2"
op = "conv"
out = [16, 24]
kernel = 3
stride = 2
act = "relu"

[[layers]]
op = "global_pool"

[[layers]]
op = "linear"
"#;

/// A short recipe: small batches so that a few epochs are enough steps.
const STUDY: &str = r#"
space = "SPACE"
evaluator = "train"
cost = "madds"

[layernas]
buckets = 2

[train]
epochs = 6
batch_size = 16
train_subset = 200
valid_size = 60
learning_rate = 0.05
"#;

fn write_study(dir: &Path, extra: &str) -> std::path::PathBuf {
    let space = dir.join("space.toml");
    std::fs::write(&space, SPACE).unwrap();
    let study = dir.join("study.toml");
    let text = STUDY.replace("SPACE", space.to_str().unwrap()) + extra;
    std::fs::write(&study, text).unwrap();
    study
}

/// `layernas search` with `args`, its JSON outcome.
fn search(cache: &Path, args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_layernas"))
        .env("LAYERNAS_DATA_CACHE", cache)
        .arg("search")
        .args(args)
        .args(["--quiet", "--json", "-"])
        .output()
        .expect("layernas runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the outcome is JSON")
}

fn assert_beats_chance(outcome: &Value, what: &str, with_test: bool) {
    let best = &outcome["best"];
    let valid = best["reward"].as_f64().expect("the answer has a reward");
    eprintln!(
        "{what}: {} trials, answer {} at {:.4} M MAdds: validation {valid:.1}%, test {}",
        outcome["trials"], best["arch"], best["cost"], best["test"]
    );
    assert_eq!(outcome["failed"], 0, "{outcome}");
    assert!(
        valid >= CHANCE + MARGIN,
        "{what}: the answer's validation accuracy {valid:.1}% does not beat chance \
         ({CHANCE}%, four balanced classes) by {MARGIN} points"
    );
    if with_test {
        let test = best["test"]
            .as_f64()
            .expect("the answer has a test accuracy");
        assert!(
            test >= CHANCE + MARGIN,
            "{what}: the answer's test accuracy {test:.1}% does not beat chance ({CHANCE}%) \
             by {MARGIN} points"
        );
    }
}

#[test]
fn a_search_on_an_image_folder_beats_chance() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    write_image_folder(
        &images,
        FolderLayout {
            train: 65,
            val: 0,
            test: 15,
            sides: (14, 40),
            rgb: true,
            seed: 11,
        },
    )
    .unwrap();
    let study = write_study(dir.path(), "");
    let cache = dir.path().join("cache");
    let args = [
        "-c",
        study.to_str().unwrap(),
        "--data",
        images.to_str().unwrap(),
        "--image-size",
        "16",
    ];
    let outcome = search(&cache, &args);
    assert_eq!(outcome["dataset"], "imagefolder");
    assert_beats_chance(&outcome, "image folder", true);
    // The decoded images were cached, once.
    let cached: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
}

#[test]
fn a_search_on_cifar_batches_beats_chance() {
    let dir = tempfile::tempdir().unwrap();
    let cifar = dir.path().join("cifar-10-batches-bin");
    write_cifar10(&cifar, 2, 130, 40, 5).unwrap();
    // The data set named by the study file's [data] table.
    let extra = format!(
        "\n[data]\npath = \"{}\"\nformat = \"cifar\"\n",
        cifar.display()
    );
    let study = write_study(dir.path(), &extra);
    let outcome = search(&dir.path().join("cache"), &["-c", study.to_str().unwrap()]);
    assert_eq!(outcome["dataset"], "cifar");
    assert_beats_chance(&outcome, "CIFAR batches", true);
}

#[test]
fn the_command_evaluator_is_told_where_the_data_is() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("images");
    write_image_folder(
        &images,
        FolderLayout {
            train: 2,
            val: 0,
            test: 0,
            sides: (8, 8),
            rgb: false,
            seed: 1,
        },
    )
    .unwrap();
    let seen = dir.path().join("trial.json");
    let command = format!("cat > '{}'; echo '{{\"reward\": 1}}'", seen.display());
    let space = dir.path().join("space.toml");
    std::fs::write(&space, SPACE).unwrap();
    search(
        &dir.path().join("cache"),
        &[
            "--space",
            space.to_str().unwrap(),
            "--data",
            images.to_str().unwrap(),
            "--evaluator",
            "command",
            "--command",
            &command,
            "--max-trials",
            "1",
        ],
    );
    let trial: Value = serde_json::from_str(&std::fs::read_to_string(&seen).unwrap()).unwrap();
    let data = &trial["context"]["data"];
    assert_eq!(trial["context"]["dataset"], "imagefolder", "{trial}");
    assert_eq!(data["format"], "imagefolder", "{trial}");
    assert_eq!(data["image_size"], 32, "{trial}");
    let path = std::fs::canonicalize(&images).unwrap();
    assert_eq!(data["path"], path.to_str().unwrap(), "{trial}");
}

#[test]
fn data_flags_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_layernas"))
            .args(["search", "--space", "mobilenetv2", "--evaluator", "train"])
            .args(args)
            .output()
            .expect("layernas runs");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        String::from_utf8_lossy(&out.stderr).trim().to_string()
    };
    let e = run(&["--data-format", "cifar"]);
    assert!(
        e.contains("--data-format describes your data set: add --data PATH"),
        "{e}"
    );
    let e = run(&["--data", dir.path().to_str().unwrap()]);
    assert!(e.contains("no data set format recognised"), "{e}");
    assert!(e.contains(dir.path().to_str().unwrap()), "{e}");
    std::fs::create_dir(dir.path().join("train")).unwrap();
    let e = run(&[
        "--data",
        dir.path().to_str().unwrap(),
        "--dataset",
        "fashion-mnist",
    ]);
    assert!(e.contains("give one of them"), "{e}");
    let e = run(&[
        "--data",
        dir.path().to_str().unwrap(),
        "--data-format",
        "png",
    ]);
    assert!(e.contains("unknown data format \"png\""), "{e}");
    // An empty train/ folder: the error names it.
    let e = run(&["--data", dir.path().to_str().unwrap()]);
    assert!(e.contains("no class folders"), "{e}");
    assert!(e.contains("train"), "{e}");
}

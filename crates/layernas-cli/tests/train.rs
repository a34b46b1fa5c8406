//! `layernas train` end to end with the real binary: the files it writes and their contents, a
//! SIGKILL mid-run and the resumed run's exact numbers, the refusal of a folder holding another
//! training, `--pick` from a stored search, and the winner of a search on the user's images
//! (`--data`) trained with augmentation, killed and resumed.

mod common;

use layernas_train::synthetic::{write_image_folder, FolderLayout};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_layernas")
}

/// The recipe of these tests: small and fast.
const RECIPE: [&str; 6] = [
    "--train-subset",
    "384",
    "--batch-size",
    "32",
    "--set",
    "valid_size=200",
];

fn train(space: &str, out: &Path, epochs: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args([
        "train",
        "--space",
        space,
        "--arch",
        "stem.out=8",
        "--epochs",
        epochs,
    ])
    .args(RECIPE)
    .arg("--output")
    .arg(out)
    .args(extra);
    c
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// (epoch, loss, validation, test) of every epoch, as text (exact values).
fn curve(out: &Path) -> Vec<String> {
    read_json(&out.join("metrics.json"))["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {} {}",
                e["epoch"], e["loss"], e["valid_accuracy"], e["test_accuracy"]
            )
        })
        .collect()
}

/// Runs `first` (training into `killed`) until its first checkpoint is written, kills it with
/// SIGKILL, runs `again` (the same command) and checks that it resumes and ends with the
/// per-epoch numbers and weights of the uninterrupted run in `straight` (`epochs` epochs).
fn kill_and_resume(
    mut first: Command,
    again: Command,
    straight: &Path,
    killed: &Path,
    epochs: u64,
) {
    let mut child = first
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let state = killed.join("state.json");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !state.exists() {
        assert!(Instant::now() < deadline, "no checkpoint after 300 s");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before the kill"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    let at_kill = read_json(&state)["trainer"]["epochs_done"]
        .as_u64()
        .unwrap();
    assert!(at_kill < epochs, "the run had finished when it was killed");
    assert!(!killed.join("model.safetensors").exists());
    let stdout = run_ok(again);
    assert!(
        stdout.contains(&format!("resuming after epoch {at_kill}")),
        "{stdout}"
    );
    assert_eq!(curve(straight), curve(killed));
    assert!(
        std::fs::read(straight.join("model.safetensors")).unwrap()
            == std::fs::read(killed.join("model.safetensors")).unwrap(),
        "the resumed run's weights differ"
    );
}

fn run_ok(mut c: Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn train_writes_its_files_resumes_after_sigkill_and_refuses_another_training() {
    let tmp = tempfile::tempdir().unwrap();
    let space = common::write_tiny_space(tmp.path());
    let (straight, killed) = (tmp.path().join("straight"), tmp.path().join("killed"));

    let started = Instant::now();
    let stdout = run_ok(train(&space, &straight, "3", &["--json", "-"]));
    eprintln!("uninterrupted: {:.1} s", started.elapsed().as_secs_f64());
    let json: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["report"]["epochs"].as_array().unwrap().len(), 3);
    assert_eq!(json["about"]["network"], "full");
    assert_eq!(json["report"]["train_images"], 384);

    // The files: a network description, per-epoch metrics, the curves and the weights.
    let network: layernas_spaces::network::Network =
        serde_json::from_str(&std::fs::read_to_string(straight.join("network.json")).unwrap())
            .unwrap();
    assert_eq!(network.classes, 10);
    let metrics = read_json(&straight.join("metrics.json"));
    assert_eq!(metrics["finished"], true);
    for e in metrics["epochs"].as_array().unwrap() {
        for key in ["loss", "valid_accuracy", "test_accuracy", "train_seconds"] {
            assert!(e[key].as_f64().unwrap().is_finite(), "{key}");
        }
    }
    let last = &metrics["epochs"][2];
    // Chance is 10%.
    assert!(last["valid_accuracy"].as_f64().unwrap() > 20.0, "{last}");
    let png = std::fs::read(straight.join("training.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    let svg = std::fs::read_to_string(straight.join("training.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("validation"));
    // safetensors: an 8-byte header length, then a JSON header naming every tensor.
    let weights = std::fs::read(straight.join("model.safetensors")).unwrap();
    let n = u64::from_le_bytes(weights[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&weights[8..8 + n]).unwrap();
    assert_eq!(
        header["0.conv.weight"]["shape"],
        serde_json::json!([8, 1, 3, 3])
    );
    assert_eq!(header["1.dw.conv.weight"]["dtype"], "F32");
    assert!(header["1.se_reduce.weight"].is_object());
    assert!(header["3.linear.weight"].is_object());

    // SIGKILL once the first epoch's checkpoint is written, then the same command again.
    kill_and_resume(
        train(&space, &killed, "3", &["--quiet"]),
        train(&space, &killed, "3", &[]),
        &straight,
        &killed,
        3,
    );

    // The same folder with another recipe: refused (exit 2, one line), unless --restart.
    let out = train(&space, &killed, "2", &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "holds the training of another recipe (recipe.epochs: 3 here, 2 asked); use --restart"
        ),
        "{err}"
    );
    run_ok(train(&space, &killed, "2", &["--restart", "--quiet"]));
    assert_eq!(curve(&killed).len(), 2);
}

#[test]
fn pick_trains_a_trial_of_a_stored_search_and_repeats_it() {
    let tmp = tempfile::tempdir().unwrap();
    let space = common::write_tiny_space(tmp.path());
    let store = tmp.path().join("runs.db").display().to_string();
    let mut search = Command::new(bin());
    search
        .args(["search", "--space", &space, "--dataset", "fashion-mnist"])
        .args([
            "--evaluator",
            "train",
            "--epochs",
            "1",
            "--train-subset",
            "256",
        ])
        .args([
            "--cost",
            "madds",
            "--buckets",
            "2",
            "--quiet",
            "--seed",
            "5",
        ])
        .args(["--store", &store, "--study", "tiny", "--json", "-"]);
    let outcome: Value = serde_json::from_str(&run_ok(search)).unwrap();
    let best = &outcome["best"];

    // --pick best with the study's own recipe and the trial's seed repeats the trial.
    let out = tmp.path().join("best");
    let mut pick = Command::new(bin());
    pick.args([
        "train", "--store", &store, "--study", "tiny", "--pick", "best",
    ])
    .args(["--quiet", "--json", "-", "--output"])
    .arg(&out);
    let json: Value = serde_json::from_str(&run_ok(pick)).unwrap();
    assert_eq!(json["about"]["arch"], best["arch"]);
    assert_eq!(json["about"]["picked"]["reward"], best["reward"]);
    assert_eq!(
        json["report"]["epochs"][0]["valid_accuracy"], best["reward"],
        "the trial's training is not repeated"
    );

    // max-cost=X: the best trial under a cap; trial=N: that trial; a bad pick: one clear line.
    let front = outcome["front"].as_array().unwrap();
    let cheapest = &front[0];
    let cap = cheapest["cost"].as_f64().unwrap();
    let mut pick = Command::new(bin());
    pick.args(["train", "--store", &store, "--study", "tiny"])
        .arg(format!("--pick=max-cost={cap}"))
        .args(["--epochs", "1", "--quiet", "--json", "-", "--output"])
        .arg(tmp.path().join("cheap"));
    let json: Value = serde_json::from_str(&run_ok(pick)).unwrap();
    assert_eq!(json["about"]["arch"], cheapest["arch"]);
    let mut pick = Command::new(bin());
    pick.args([
        "train", "--store", &store, "--study", "tiny", "--pick", "trial=0",
    ])
    .args(["--quiet", "--json", "-", "--output"])
    .arg(tmp.path().join("first"));
    let json: Value = serde_json::from_str(&run_ok(pick)).unwrap();
    assert_eq!(json["about"]["picked"]["trial"], 0);
    assert_eq!(
        json["about"]["arch"], "stem.out=8,b1.kernel=5",
        "trial 0 is the default"
    );
    let out = Command::new(bin())
        .args([
            "train",
            "--store",
            &store,
            "--study",
            "tiny",
            "--pick",
            "trial=999",
        ])
        .args(["--output"])
        .arg(tmp.path().join("none"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("has no trial 999"), "{err}");
}

/// The winner of a search on the user's images (an image folder without a test tree), trained
/// with augmentation (random crops and flips, from the study's `[train]` table): `--pick best`
/// loads the study's data set and repeats the trial, crops and flips included; a longer training
/// killed with SIGKILL resumes to the numbers and weights of one never stopped (the checkpoint
/// holds the augmentation generator's position).
#[test]
fn the_winner_of_a_search_on_your_images_trains_with_augmentation_and_resumes_after_sigkill() {
    let tmp = tempfile::tempdir().unwrap();
    let space = common::write_tiny_space(tmp.path());
    let images = tmp.path().join("images");
    write_image_folder(
        &images,
        FolderLayout {
            train: 50,
            val: 0,
            test: 0,
            sides: (12, 30),
            rgb: true,
            seed: 3,
        },
    )
    .unwrap();
    let study = tmp.path().join("study.toml");
    std::fs::write(
        &study,
        format!(
            "space = \"{space}\"\nevaluator = \"train\"\ncost = \"madds\"\n\n[layernas]\n\
             buckets = 2\n\n[train]\nepochs = 1\nbatch_size = 16\ntrain_subset = 160\n\
             valid_size = 40\nrandom_crop = 2\nhorizontal_flip = true\n"
        ),
    )
    .unwrap();
    let cache = tmp.path().join("cache");
    let store = tmp.path().join("runs.db").display().to_string();
    let layernas = || {
        let mut c = Command::new(bin());
        c.env("LAYERNAS_DATA_CACHE", &cache);
        c
    };
    // --arch on the user's images: the network takes the data's input and classes.
    let mut arch = layernas();
    arch.args(["train", "--space", &space, "--arch", "stem.out=8", "--data"])
        .arg(&images)
        .args([
            "--image-size",
            "12",
            "--epochs",
            "1",
            "--train-subset",
            "64",
        ])
        .args(["--quiet", "--json", "-", "--output"])
        .arg(tmp.path().join("arch"));
    let json: Value = serde_json::from_str(&run_ok(arch)).unwrap();
    assert_eq!(json["spec"]["dataset"], "imagefolder");
    assert_eq!(json["spec"]["data"]["image_size"], 12);
    let network = &json["spec"]["network"];
    assert_eq!(
        (
            &network["input"]["resolution"],
            &network["input"]["channels"]
        ),
        (&serde_json::json!(12), &serde_json::json!(3))
    );
    assert_eq!(network["classes"], 4);

    let mut search = layernas();
    search
        .args(["search", "-c", study.to_str().unwrap(), "--data"])
        .arg(&images)
        .args(["--image-size", "12", "--seed", "5", "--quiet"])
        .args(["--store", &store, "--study", "mine", "--json", "-"]);
    let outcome: Value = serde_json::from_str(&run_ok(search)).unwrap();
    assert_eq!(outcome["dataset"], "imagefolder");
    let best = &outcome["best"];

    let pick = |out: &str, extra: &[&str]| {
        let mut c = layernas();
        c.args([
            "train", "--store", &store, "--study", "mine", "--pick", "best",
        ])
        .args(extra)
        .arg("--output")
        .arg(tmp.path().join(out));
        c
    };
    let json: Value =
        serde_json::from_str(&run_ok(pick("best", &["--quiet", "--json", "-"]))).unwrap();
    assert_eq!(json["about"]["arch"], best["arch"]);
    assert_eq!(json["spec"]["dataset"], "imagefolder");
    assert_eq!(json["spec"]["recipe"]["random_crop"], 2);
    assert_eq!(json["report"]["test_images"], 0);
    let epoch = &json["report"]["epochs"][0];
    assert_eq!(
        epoch["valid_accuracy"], best["reward"],
        "the trial's augmented training is not repeated"
    );
    assert!(epoch["test_accuracy"].is_null(), "{epoch}");

    // Three epochs straight, and killed after a checkpoint then resumed.
    let straight = tmp.path().join("straight");
    let stdout = run_ok(pick("straight", &["--epochs", "3"]));
    let epoch_lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("epoch ")).collect();
    assert_eq!(epoch_lines.len(), 3, "{stdout}");
    assert!(
        epoch_lines.iter().all(|l| !l.contains("test")),
        "no test images, no test accuracy: {stdout}"
    );
    kill_and_resume(
        pick("killed", &["--epochs", "3", "--quiet"]),
        pick("killed", &["--epochs", "3"]),
        &straight,
        &tmp.path().join("killed"),
        3,
    );
}

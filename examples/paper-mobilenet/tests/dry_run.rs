//! The experiment's `--quick --dry-run` path, through the script, so the example cannot rot:
//! the plan names both spaces and both references of each, with caps equal to the references'
//! MAdds, and nothing is trained.

use std::process::Command;

#[test]
fn the_scripts_quick_dry_run_plans_four_searches_without_training() {
    let out = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/run.sh");
    let output = Command::new("bash")
        .arg(script)
        .args(["--quick", "--dry-run", "--out"])
        .arg(out.path())
        .env("LAYERNAS_PAPER_BIN", env!("CARGO_BIN_EXE_paper-mobilenet"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("4 searches"), "{stdout}");
    for study in [
        "mobilenetv3-small-ref0",
        "mobilenetv3-small-ref1",
        "mobilenetv2-ref0",
        "mobilenetv2-ref1",
    ] {
        assert!(stdout.contains(study), "{study} missing: {stdout}");
    }
    // The backbones' published MAdds (224x224, 1,000 classes): MobileNetV3-Small 56 M
    // (Howard et al. 2019, Table 3), MobileNetV2 300 M (Sandler et al. 2018, Table 4).
    assert!(stdout.contains("cap 56."), "{stdout}");
    assert!(stdout.contains("cap 300."), "{stdout}");
    let plan = std::fs::read_to_string(out.path().join("plan.txt")).unwrap();
    assert_eq!(
        plan,
        stdout
            .lines()
            .filter(|l| !l.starts_with("note:"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
    // A dry run trains nothing and opens no store.
    assert!(!out.path().join("studies.db").exists());
    assert!(!out.path().join("results").exists());
}

#[test]
fn the_full_run_without_data_names_the_missing_folder() {
    let out = tempfile::tempdir().unwrap();
    let missing = out.path().join("no-data");
    let output = Command::new(env!("CARGO_BIN_EXE_paper-mobilenet"))
        .args(["--out"])
        .arg(out.path())
        .arg("--data-dir")
        .arg(&missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("no-data") && stderr.contains("--quick"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error")).count(),
        1,
        "{stderr}"
    );
}

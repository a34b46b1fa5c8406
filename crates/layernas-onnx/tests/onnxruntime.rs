//! Where Python's `onnxruntime` (and `numpy`) can be imported, the exported models run there too
//! and their logits are compared with the trainer's; where `onnx` can be imported, its checker
//! (with full shape inference) validates every file. The Python is `$LAYERNAS_PYTHON`, or
//! `python3`: the test skips with a message where it cannot import them, and fails instead
//! where `LAYERNAS_REQUIRE_ONNXRUNTIME=1` asks for the check (as `LAYERNAS_REQUIRE_POSTGRES`
//! does for PostgreSQL): a check asked for is never skipped.

mod common;

use common::*;
use layernas_onnx::export;
use std::process::Command;

const SCRIPT: &str = r#"
import sys, numpy as np, onnxruntime as ort
try:
    import onnx, onnx.checker
except ImportError:
    onnx = None
for case in sys.argv[1:]:
    shape = [int(v) for v in open(case + "/shape.txt").read().split()]
    x = np.fromfile(case + "/images.f32", dtype="<f4").reshape(shape)
    expected = np.fromfile(case + "/logits.f32", dtype="<f4")
    if onnx is not None:
        onnx.checker.check_model(onnx.load(case + "/model.onnx"), full_check=True)
    session = ort.InferenceSession(case + "/model.onnx", providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"input": x})
    diff = float(np.max(np.abs(got.reshape(-1) - expected)))
    print(f"{case}\t{diff}\t{'checked' if onnx is not None else 'unchecked'}")
"#;

#[test]
fn onnxruntime_matches_the_trainer_where_installed() {
    let python = std::env::var("LAYERNAS_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into());
    let importable = Command::new(&python)
        .args(["-c", "import onnxruntime, numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !importable {
        let why = format!("{python} cannot import onnxruntime and numpy");
        if std::env::var("LAYERNAS_REQUIRE_ONNXRUNTIME").is_ok_and(|v| v == "1") {
            panic!("LAYERNAS_REQUIRE_ONNXRUNTIME=1 but {why} (LAYERNAS_PYTHON names the Python)");
        }
        eprintln!("skipped: {why} (set LAYERNAS_PYTHON to a Python that can)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    let all = op_networks()
        .into_iter()
        .chain(activation_networks())
        .chain(backbone_networks())
        .chain(full_backbone_networks());
    for (i, (name, network)) in all.enumerate() {
        let case = dir.path().join(i.to_string());
        std::fs::create_dir(&case).unwrap();
        let w = weights(&network, 9);
        export(&network, &w)
            .unwrap()
            .write(&case.join("model.onnx"))
            .unwrap();
        let batch = 3;
        let images = images(&network, batch, 4);
        let logits = burn_logits(&network, &w, &images, batch);
        let bytes = |v: &[f32]| v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>();
        std::fs::write(case.join("images.f32"), bytes(&images)).unwrap();
        std::fs::write(case.join("logits.f32"), bytes(&logits)).unwrap();
        let i = network.input;
        std::fs::write(
            case.join("shape.txt"),
            format!("{batch} {} {} {}", i.channels, i.resolution, i.resolution),
        )
        .unwrap();
        cases.push((name, case));
    }
    let out = Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .args(cases.iter().map(|(_, c)| c))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "onnxruntime failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), cases.len(), "{stdout}");
    for ((name, _), line) in cases.iter().zip(lines) {
        let fields: Vec<&str> = line.split('\t').collect();
        let diff: f32 = fields[1].parse().unwrap();
        eprintln!(
            "{name}: max |burn - onnxruntime| = {diff:.3e} (onnx checker: {})",
            fields[2]
        );
        assert!(
            diff <= TOLERANCE,
            "{name}: onnxruntime's logits differ from burn's by {diff}"
        );
    }
}

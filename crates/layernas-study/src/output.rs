//! Where results go: a command checks, before any work, that its output paths can be written
//! (a search whose results cannot be saved must not run first), and writes JSON to a file or
//! to standard output.

use crate::StudyError;
use serde::Serialize;
use std::path::Path;

/// Checks that `path` can be written (created or replaced), leaving no file behind; `what`
/// names it in the error (`--json`, `the latency table`).
pub fn check_writable(path: &Path, what: &str) -> Result<(), StudyError> {
    let fail =
        |why: String| StudyError::Input(format!("cannot write {what} {}: {why}", path.display()));
    if path.is_dir() {
        return Err(fail("it is a directory".into()));
    }
    if path.exists() {
        return std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
            .map_err(|e| fail(e.to_string()));
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| fail(e.to_string()))?;
    std::fs::remove_file(path).map_err(|e| fail(e.to_string()))
}

/// Checks that `dir` is, or can be made, a directory files can be written in (creating it).
pub fn check_writable_dir(dir: &Path, what: &str) -> Result<(), StudyError> {
    let fail =
        |why: String| StudyError::Input(format!("cannot write {what} {}: {why}", dir.display()));
    if dir.exists() && !dir.is_dir() {
        return Err(fail("it exists and is not a directory".into()));
    }
    std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
    let probe = dir.join(format!(".layernas-write-check-{}", std::process::id()));
    check_writable(&probe, what).map_err(|_| fail("the directory is not writable".into()))
}

/// Whether a `--json` path means standard output (`-`).
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Writes `value` as pretty JSON to `path`, or to standard output when it is `-`.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), StudyError> {
    let json = serde_json::to_string_pretty(value)
        .map_err(|e| StudyError::Run(format!("cannot render JSON: {e}")))?;
    if is_stdout(path) {
        println!("{json}");
        return Ok(());
    }
    std::fs::write(path, json + "\n")
        .map_err(|e| StudyError::Run(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_checks_name_the_path_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out.json");
        check_writable(&file, "--json").unwrap();
        assert!(!file.exists(), "the check must not leave a file");
        let e = check_writable(dir.path(), "--json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("--json") && e.contains("is a directory"), "{e}");
        let made = dir.path().join("sub").join("x");
        check_writable_dir(&made, "the report to").unwrap();
        assert!(made.is_dir(), "a missing directory is created");
        std::fs::write(&file, "{}").unwrap();
        let e = check_writable_dir(&file, "the report to").unwrap_err();
        assert!(e.to_string().contains("not a directory"), "{e}");
    }

    #[test]
    fn json_goes_to_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("o.json");
        write_json(&file, &serde_json::json!({"a": 1})).unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "{\n  \"a\": 1\n}\n"
        );
        assert!(is_stdout(Path::new("-")) && !is_stdout(&file));
        let e = write_json(&dir.path().join("no/such/o.json"), &1).unwrap_err();
        assert!(e.to_string().starts_with("cannot write"), "{e}");
    }
}

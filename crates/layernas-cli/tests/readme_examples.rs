//! The README's example outputs are the real output of the real binary.
//!
//! Every example in README.md is marked with a comment naming the command,
//! `<!-- readme-example: layernas ARGS -->` (or `readme-example slow:` for one that trains),
//! followed by a `text` block holding its standard output. This test runs every fast example and
//! compares its output with the block verbatim, so an example cannot go stale.
//!
//! `scripts/readme-examples` regenerates every block (slow ones included) with the release
//! binary: it runs this file with `LAYERNAS_README_WRITE=1` (rewrite instead of compare),
//! `LAYERNAS_README_SLOW=1` (include slow examples) and `LAYERNAS_BIN` (the binary to run).

use std::path::{Path, PathBuf};
use std::process::Command;

const MARK: &str = "<!-- readme-example";

/// One marked example: its arguments, whether it is slow, and where its output block lies.
#[derive(Debug)]
struct Example {
    args: Vec<String>,
    slow: bool,
    /// Byte range of the block's body (between the fence lines) in the README.
    body: std::ops::Range<usize>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Finds every marked example; a marker without a following `text` block is an error.
fn examples(readme: &str) -> Vec<Example> {
    let mut found = Vec::new();
    let mut offset = 0;
    while let Some(at) = readme[offset..].find(MARK) {
        let start = offset + at;
        let end = start
            + readme[start..]
                .find("-->")
                .unwrap_or_else(|| panic!("unclosed example marker at byte {start}"));
        let spec = readme[start + MARK.len()..end].trim();
        let (slow, command) = if let Some(rest) = spec.strip_prefix("slow:") {
            (true, rest)
        } else if let Some(rest) = spec.strip_prefix(':') {
            (false, rest)
        } else {
            panic!("malformed example marker {spec:?}: expected `: layernas ...` or `slow: ...`")
        };
        let mut words = command.split_whitespace().map(str::to_string);
        assert_eq!(
            words.next().as_deref(),
            Some("layernas"),
            "an example command starts with `layernas`: {command:?}"
        );
        let args: Vec<String> = words.collect();
        let after = end + 3;
        let fence = "```text\n";
        let block = after
            + readme[after..]
                .find(fence)
                .unwrap_or_else(|| panic!("no ```text block after the example {command:?}"));
        assert!(
            !readme[after..block].contains(MARK),
            "the example {command:?} has no block of its own"
        );
        let body_start = block + fence.len();
        let body_end = body_start
            + readme[body_start..]
                .find("```")
                .unwrap_or_else(|| panic!("unclosed block of the example {command:?}"));
        found.push(Example {
            args,
            slow,
            body: body_start..body_end,
        });
        offset = body_end;
    }
    found
}

fn binary() -> PathBuf {
    std::env::var_os("LAYERNAS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_layernas")))
}

/// Runs one example from the repository root; its standard output, which must be a success.
fn run(example: &Example) -> String {
    let out = Command::new(binary())
        .args(&example.args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .expect("the layernas binary runs");
    assert!(
        out.status.success(),
        "`layernas {}` failed: {}",
        example.args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn flag(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v == "1")
}

#[test]
fn readme_example_outputs_are_the_real_output() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let all = examples(&readme);
    assert!(
        all.iter().filter(|e| !e.slow).count() >= 4,
        "the README marks its fast examples"
    );
    let write = flag("LAYERNAS_README_WRITE");
    let slow = flag("LAYERNAS_README_SLOW");
    let mut updated = readme.clone();
    let mut stale = Vec::new();
    // Replace from the end so earlier byte ranges stay valid.
    for example in all.iter().rev() {
        if example.slow && !slow {
            continue;
        }
        let output = run(example);
        if output != readme[example.body.clone()] {
            stale.push(format!(
                "`layernas {}`: README shows\n{}\nbut the binary prints\n{}",
                example.args.join(" "),
                &readme[example.body.clone()],
                output
            ));
            updated.replace_range(example.body.clone(), &output);
        }
    }
    if write {
        if updated != readme {
            std::fs::write(&path, updated).expect("README.md is writable");
        }
        return;
    }
    assert!(
        stale.is_empty(),
        "stale README examples (regenerate with scripts/readme-examples):\n{}",
        stale.join("\n\n")
    );
}

#[test]
fn example_markers_parse() {
    let text = "a\n<!-- readme-example: layernas space nb201 -->\n\n```text\nx\n```\n\
                <!-- readme-example slow: layernas search --evaluator train -->\n```text\ny\n```\n";
    let found = examples(text);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].args, ["space", "nb201"]);
    assert!(!found[0].slow);
    assert_eq!(&text[found[0].body.clone()], "x\n");
    assert!(found[1].slow);
    assert_eq!(&text[found[1].body.clone()], "y\n");
}

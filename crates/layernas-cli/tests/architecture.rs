//! ARCHITECTURE.md's dependency graph is the real one: its table of workspace crates and the
//! workspace crates each depends on must equal what `cargo metadata` reports.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

type Graph = BTreeMap<String, BTreeSet<String>>;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The normal (non-dev, non-build) dependencies between workspace members.
fn metadata_graph() -> Graph {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let packages = meta["packages"].as_array().expect("packages");
    let members: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_string())
        .collect();
    packages
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().expect("name").to_string())
                .filter(|name| members.contains(name))
                .collect();
            (p["name"].as_str().expect("name").to_string(), deps)
        })
        .collect()
}

/// The table under "## Dependency graph": `| \`crate\` | \`dep\`, \`dep\` |` rows.
fn documented_graph(text: &str) -> Graph {
    let section = text
        .split("\n## ")
        .find(|s| s.starts_with("Dependency graph"))
        .expect("ARCHITECTURE.md has a `## Dependency graph` section");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 2, "a graph row has two cells: {line:?}");
            let name = cells[0].trim_matches('`').to_string();
            let deps = cells[1]
                .split(',')
                .map(|d| d.trim().trim_matches('`').to_string())
                .filter(|d| !d.is_empty() && d != "-")
                .collect();
            (name, deps)
        })
        .collect()
}

#[test]
fn architecture_md_dependency_graph_matches_cargo_metadata() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let documented = documented_graph(&text);
    let real = metadata_graph();
    let mut diffs = Vec::new();
    for (name, deps) in &real {
        match documented.get(name) {
            None => diffs.push(format!("{name} is missing (depends on {deps:?})")),
            Some(d) if d != deps => {
                diffs.push(format!("{name}: documented {d:?}, cargo metadata {deps:?}"))
            }
            Some(_) => {}
        }
    }
    for name in documented.keys().filter(|n| !real.contains_key(*n)) {
        diffs.push(format!("{name} is documented but not a workspace member"));
    }
    assert!(
        diffs.is_empty(),
        "ARCHITECTURE.md's dependency graph is out of date:\n{}",
        diffs.join("\n")
    );
}

//! Shared by the CLI's tests: a tiny network space to train and export.
#![allow(dead_code)]

use std::path::Path;

/// A small space (4 models) for 28x28 grey images: a convolution, an MBConv with
/// squeeze-and-excite and hard-swish, a global pool and the classifier.
pub const TINY_SPACE: &str = r#"
name = "tiny"
classes = 10
input = { resolution = 28, channels = 1 }
[[layers]]
name = "stem"
op = "conv"
out = [4, 8]
kernel = 3
stride = 2
[[layers]]
name = "b1"
op = "mbconv"
out = 8
kernel = [3, 5]
expand = 2
se = true
act = "hswish"
[[layers]]
op = "global_pool"
[[layers]]
op = "linear"
"#;

/// Writes [`TINY_SPACE`] to `dir/tiny.toml` and returns that path.
pub fn write_tiny_space(dir: &Path) -> String {
    let path = dir.join("tiny.toml");
    std::fs::write(&path, TINY_SPACE).unwrap();
    path.display().to_string()
}

//! The decoded-data cache: one compact file per decoded data set, named by a hash of what
//! decides its contents (the chosen images' bytes, classes and splits, and the preprocessing).
//! A header (magic, the shapes, classes and statistics as JSON) then the raw pixels and labels.
//! Written to a temporary file and renamed, so concurrent searches never read half a file; a
//! file that does not read back exactly is ignored (and rewritten).

use super::{Dataset, ImageData};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 16] = b"LAYERNAS DATA 1\n";

#[derive(Serialize, Deserialize)]
struct Header {
    rows: usize,
    cols: usize,
    channels: usize,
    train: usize,
    test: usize,
    held_out: Option<usize>,
    class_names: Vec<String>,
    mean: Vec<f32>,
    std: Vec<f32>,
}

/// The cache file of key `key` (a hex digest) in `dir`.
pub(crate) fn file(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("{key}.layernas-data"))
}

/// The data in `path`, if it is a complete cache file.
pub(crate) fn read(path: &Path) -> Option<ImageData> {
    let mut f = std::fs::File::open(path).ok()?;
    let mut magic = [0u8; 16];
    f.read_exact(&mut magic).ok()?;
    if &magic != MAGIC {
        return None;
    }
    let mut len = [0u8; 8];
    f.read_exact(&mut len).ok()?;
    let len = u64::from_le_bytes(len);
    if len > 1 << 30 {
        return None;
    }
    let mut json = vec![0u8; len as usize];
    f.read_exact(&mut json).ok()?;
    let h: Header = serde_json::from_slice(&json).ok()?;
    if h.mean.len() != h.channels || h.std.len() != h.channels {
        return None;
    }
    let image = h.channels.checked_mul(h.rows)?.checked_mul(h.cols)?;
    let mut take = |n: usize| -> Option<Vec<u8>> {
        let mut v = Vec::new();
        (&mut f).take(n as u64).read_to_end(&mut v).ok()?;
        (v.len() == n).then_some(v)
    };
    let dataset = |pixels: Vec<u8>, labels: Vec<u8>| Dataset {
        pixels,
        labels,
        rows: h.rows,
        cols: h.cols,
        channels: h.channels,
        mean: h.mean.clone(),
        std: h.std.clone(),
    };
    let train_pixels = take(h.train.checked_mul(image)?)?;
    let train_labels = take(h.train)?;
    let test_pixels = take(h.test.checked_mul(image)?)?;
    let test_labels = take(h.test)?;
    // Nothing may follow.
    if take(1).is_some() {
        return None;
    }
    Some(ImageData {
        train: dataset(train_pixels, train_labels),
        test: dataset(test_pixels, test_labels),
        held_out: h.held_out,
        class_names: h.class_names.clone(),
    })
}

/// Writes `data` to `path` (through a temporary file in the same folder and a rename).
pub(crate) fn write(path: &Path, data: &ImageData) -> Result<(), String> {
    let dir = path.parent().ok_or("the cache file has no folder")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let header = Header {
        rows: data.train.rows,
        cols: data.train.cols,
        channels: data.train.channels,
        train: data.train.len(),
        test: data.test.len(),
        held_out: data.held_out,
        class_names: data.class_names.clone(),
        mean: data.train.mean.clone(),
        std: data.train.std.clone(),
    };
    let json = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("data"),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        f.write_all(MAGIC)?;
        f.write_all(&(json.len() as u64).to_le_bytes())?;
        f.write_all(&json)?;
        f.write_all(&data.train.pixels)?;
        f.write_all(&data.train.labels)?;
        f.write_all(&data.test.pixels)?;
        f.write_all(&data.test.labels)?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write the data cache {}: {e}", path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_file_reads_back_exactly_and_a_damaged_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = file(dir.path(), "abc");
        let set = |n: usize| Dataset {
            pixels: (0..n * 2 * 2 * 3).map(|i| i as u8).collect(),
            labels: (0..n).map(|i| (i % 2) as u8).collect(),
            rows: 2,
            cols: 2,
            channels: 3,
            mean: vec![0.1, 0.2, 0.3],
            std: vec![0.4, 0.5, 0.6],
        };
        let data = ImageData {
            train: set(5),
            test: set(2),
            held_out: Some(1),
            class_names: vec!["a".into(), "b".into()],
        };
        write(&path, &data).unwrap();
        assert_eq!(read(&path), Some(data));
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        assert_eq!(read(&path), None, "a truncated cache file is not used");
        let mut longer = bytes.clone();
        longer.push(0);
        std::fs::write(&path, &longer).unwrap();
        assert_eq!(
            read(&path),
            None,
            "a cache file with trailing bytes is not used"
        );
    }
}

//! Writes an IDX data set (the MNIST family) as an image folder of PNG files,
//! `OUT/train/<class>/NNNNN.png` and `OUT/test/<class>/NNNNN.png`: the embedded Fashion-MNIST
//! subset (6,000 + 1,000 images), or the four IDX files of a folder.
//!
//! ```sh
//! cargo run --release -p layernas-proxy --example idx-to-folder -- fashion-folder [IDX_DIR]
//! layernas search --space examples/spaces/fashion-cnn.toml --data fashion-folder ...
//! ```

use layernas_proxy::{Dataset, FashionMnist};
use std::path::{Path, PathBuf};

fn write(split: &Path, data: &Dataset, names: &[String]) -> Result<(), String> {
    for i in 0..data.len() {
        let class = &names[data.labels[i] as usize];
        let dir = split.join(class);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(format!("{i:05}.png"));
        image::GrayImage::from_raw(data.cols as u32, data.rows as u32, data.image(i).to_vec())
            .ok_or("an image of the wrong size")?
            .save(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: idx-to-folder OUT [IDX_DIR]")?);
    let data = match args.next() {
        Some(dir) => FashionMnist::from_dir(Path::new(&dir)),
        None => FashionMnist::embedded(),
    }
    .map_err(|e| e.to_string())?;
    write(&out.join("train"), &data.train, &data.class_names)?;
    write(&out.join("test"), &data.test, &data.class_names)?;
    println!(
        "wrote {} training and {} test images of {} classes to {}",
        data.train.len(),
        data.test.len(),
        data.classes(),
        out.display()
    );
    Ok(())
}

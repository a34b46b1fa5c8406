//! A study on the user's data: the `[data]` table is stored with the study and rebuilt from it
//! (workers, `status`), it decides the configuration hash, and studies without it keep the hash
//! they had before user data sets existed.

use layernas_study::file::StudyFile;
use layernas_study::{Overrides, Study, StudyDataset};
use layernas_train::synthetic::{write_image_folder, FolderLayout};
use layernas_train::DataFormat;
use std::path::Path;

/// The hashes of these studies as computed before user data sets (and the augmentation knobs)
/// were added: new fields are left out of the stored form at their defaults.
#[test]
fn studies_without_data_keep_their_configuration_hash() {
    let plain = Overrides::default().resolve().unwrap();
    let fashion = Overrides {
        space: Some("mobilenetv2".into()),
        dataset: Some("fashion-mnist".into()),
        evaluator: Some("train".into()),
        ..Overrides::default()
    }
    .resolve()
    .unwrap();
    for study in [&plain, &fashion] {
        let stored = study.spec().config;
        for key in ["\"data\"", "random_crop", "horizontal_flip"] {
            assert!(!stored.contains(key), "{key} in {stored}");
        }
    }
    assert_eq!(plain.config_hash(), PLAIN_HASH);
    assert_eq!(fashion.config_hash(), FASHION_HASH);
}

const PLAIN_HASH: &str = "da5ac3ccf8d47e20591f998ec20e451d2a1da070912b1e8ce76242df565965d7";
const FASHION_HASH: &str = "9110dbb88eddcd77415f0c201c689159dbae0b5320d7cc7d51575aafb3538734";

fn images(dir: &Path) {
    write_image_folder(
        dir,
        FolderLayout {
            train: 2,
            val: 0,
            test: 0,
            sides: (8, 8),
            rgb: true,
            seed: 1,
        },
    )
    .unwrap();
}

fn data_study(path: &Path, image_size: Option<u32>) -> Study {
    Overrides {
        space: Some("mobilenetv2".into()),
        evaluator: Some("train".into()),
        data: Some(path.into()),
        image_size,
        ..Overrides::default()
    }
    .resolve()
    .unwrap()
}

#[test]
fn a_data_study_is_stored_with_its_data_set_and_rebuilt_from_it() {
    let dir = tempfile::tempdir().unwrap();
    images(dir.path());
    let study = data_study(dir.path(), None);
    assert_eq!(study.dataset, StudyDataset::Files(DataFormat::Imagefolder));
    let spec = study.data_spec.clone().unwrap();
    assert_eq!(spec.path, std::fs::canonicalize(dir.path()).unwrap());
    assert_eq!(spec.image_size, Some(32), "the default size is stored");
    let stored = study.spec();
    let rebuilt = Study::from_stored("default", &stored.config).unwrap();
    assert_eq!(rebuilt.data_spec, study.data_spec);
    assert_eq!(rebuilt.config_hash(), study.config_hash());
    // The preprocessing and the augmentation decide the trials: they change the hash.
    assert_ne!(
        data_study(dir.path(), Some(16)).config_hash(),
        study.config_hash()
    );
    let mut file: StudyFile = study.to_file();
    file.train.as_mut().unwrap().horizontal_flip = true;
    let flipped = Overrides::default().merge(file).unwrap();
    assert_ne!(flipped.config_hash(), study.config_hash());
    // A stored study rebuilds where its data is not at hand (status, export elsewhere).
    let moved = stored
        .config
        .replace(spec.path.to_str().unwrap(), "/nowhere/layernas-test-images");
    let elsewhere = Study::from_stored("default", &moved).unwrap();
    assert_eq!(
        elsewhere.data_spec.unwrap().format,
        Some(DataFormat::Imagefolder)
    );
}

#[test]
fn data_settings_are_checked_against_the_format() {
    let dir = tempfile::tempdir().unwrap();
    images(dir.path());
    let err = |o: Overrides| o.resolve().expect_err("accepted").to_string();
    let e = err(Overrides {
        space: Some("mobilenetv2".into()),
        evaluator: Some("train".into()),
        data: Some(dir.path().into()),
        image_size: Some(0),
        ..Overrides::default()
    });
    assert!(e.contains("image_size must be 1 to 1024 (got 0)"), "{e}");
    let e = err(Overrides {
        data: Some(dir.path().into()),
        ..Overrides::default()
    });
    assert!(e.contains("no NAS-Bench-201 table"), "{e}");
}

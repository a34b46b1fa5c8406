//! The quick search recipe trains both spaces' backbones above chance. One epoch over 1,000
//! images is 16 steps: without batch-norm recalibration the running averages still describe
//! the first steps' network and both proxies evaluated at chance (V3-Small 9.6%, V2 10.9%
//! validation accuracy), so every search trial scored noise.

use layernas_core::SearchSpace;
use layernas_spaces::{mobilenet_v2_space, mobilenet_v3_space};
use layernas_train::{proxy_network, train_network, ImageData};
use paper_mobilenet::{Options, Recipe};

#[test]
fn the_quick_search_recipe_trains_the_backbones_above_chance() {
    let options = Options {
        quick: true,
        dry_run: false,
        out: std::env::temp_dir(),
        data_dir: None,
        seeds: 1,
        threads: 1,
    };
    let recipe = Recipe::of(&options).search;
    let data = ImageData::embedded().unwrap();
    for space in [mobilenet_v3_space(false), mobilenet_v2_space()] {
        let backbone = space.backbone().expect("MobileNet spaces have a backbone");
        let proxy = proxy_network(&space.network(backbone), &data, &recipe).unwrap();
        let result = train_network(&proxy, &data, &recipe, 0).unwrap();
        eprintln!("{}: validation {:.2}%", space.name(), result.valid_accuracy);
        // Ten classes: chance is 10%.
        assert!(
            result.valid_accuracy > 25.0,
            "{}: validation accuracy {:.2}% after the quick search recipe",
            space.name(),
            result.valid_accuracy
        );
    }
}

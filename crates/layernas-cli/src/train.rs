//! `layernas train`: flags in, the study library's [`TrainJob`] runs, progress and results out.

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use layernas_core::Cancel;
use layernas_study::output::{check_writable, is_stdout, write_json};
use layernas_study::train::{Pick, RecipeFlags, Source, TrainJob, TrainRequest};
use layernas_study::Overrides;
use layernas_train::{EpochMetrics, RunEvent};
use std::path::PathBuf;

pub const EXAMPLES: &str = "Examples:
  # one architecture, 10 epochs on 5000 images, checkpointed in out/ (run again to resume)
  layernas train --space examples/spaces/fashion-cnn.toml --arch 'b1.se=on,b3.skip=skip' \\
    --epochs 10 --train-subset 5000 --output out

  # the same on your own images (an image folder: train/<class>/*.png, optional val/, test/)
  layernas train --space mobilenetv3-small --arch backbone --data my_images/ --image-size 32 \
    --epochs 10 --output mine

  # the answer of a stored search, with its recipe (seed: the trial's, so it repeats it)
  layernas train --store runs.db --study fashion --pick best --output best

  # the best model under 1 M MAdds of that search, full width and depth, 20 epochs
  layernas train --store runs.db --study fashion --pick max-cost=1 --full --epochs 20 -o b";

/// The user's data set: the flags `layernas search` has (from [`Overrides`]), so that a
/// search's winner trains on the same images.
#[derive(Debug, Default, Args)]
pub struct DataArgs {
    /// Your data set for the built-in trainer (and the command evaluator's context): an image
    /// folder (train/<class>/*.png|jpg, optional val/ and test/), CIFAR-10/100 binary batches,
    /// or IDX files. Decoded once and cached ($LAYERNAS_DATA_CACHE, default ~/.cache/layernas).
    #[arg(long, value_name = "PATH")]
    pub data: Option<PathBuf>,
    /// Format of --data: imagefolder, cifar or idx [default: detected from its files].
    #[arg(long, value_name = "FORMAT")]
    pub data_format: Option<String>,
    /// Image folders (--data): the side images are resized (shorter side) and centre-cropped
    /// to, 1 to 1024 [default: 32].
    #[arg(long, value_name = "PIXELS")]
    pub image_size: Option<u32>,
}

impl DataArgs {
    /// `overrides` with these flags set.
    pub fn apply(&self, overrides: Overrides) -> Overrides {
        Overrides {
            data: self.data.clone(),
            data_format: self.data_format.clone(),
            image_size: self.image_size,
            ..overrides
        }
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Architecture as the space writes it (`layernas show`; unnamed layers at their default),
    /// or `backbone` where the space has a published one.
    #[arg(long, required_unless_present = "pick", conflicts_with = "pick")]
    pub arch: Option<String>,
    /// A trial of the stored study --study in --store: best, max-cost=X or trial=N.
    #[arg(long, requires = "store", conflicts_with_all = ["space", "dataset", "config"])]
    pub pick: Option<String>,
    /// Output folder: checkpoints, model.safetensors, network.json, metrics.json, charts.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Replace the training found in --output instead of resuming it.
    #[arg(long)]
    pub restart: bool,
    /// Study file (TOML) giving the space, data set and [train] recipe (with --arch).
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Search space: a built-in network space or a .toml space file.
    #[arg(long)]
    pub space: Option<String>,
    /// Data set: fashion-mnist, the trainer's [default: fashion-mnist; your own images: --data].
    #[arg(long)]
    pub dataset: Option<String>,
    /// Read Fashion-MNIST from DIR instead of the embedded subset.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Your data set (with --pick: where the study's data set is now).
    #[command(flatten)]
    pub data: DataArgs,
    /// Trial store (SQLite file or postgres://...) of --pick.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// Study name within --store [default: default].
    #[arg(long, value_name = "NAME")]
    pub study: Option<String>,
    /// Seed of the initialisation and batches [default: a picked trial's, else the study's].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Epochs [default: the recipe's].
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Training images used [default: the recipe's].
    #[arg(long, value_name = "N")]
    pub train_subset: Option<usize>,
    /// Mini-batch size [default: the recipe's].
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// Optimizer: sgd (Nesterov momentum) or adam [default: the recipe's].
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Learning-rate schedule after warm-up: cosine or constant [default: the recipe's].
    #[arg(long)]
    pub schedule: Option<String>,
    /// Any other [train] setting, repeatable: learning_rate=0.1, momentum=0.9, weight_decay=0,
    /// valid_size=500, width=0.5 (the proxy's), depth=0.5.
    #[arg(long, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Train the space's network (width 1, depth 1), not the search's proxy.
    #[arg(long)]
    pub full: bool,
    /// Training threads [default: the recipe's]; results are deterministic per thread count.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Engine: burn (the only one that checkpoints) [default: the recipe's].
    #[arg(long)]
    pub engine: Option<String>,
    /// Write the result as JSON to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// No progress bar and no per-epoch lines.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `  test 12.34` where the data has test images.
fn test_part(test: Option<f64>) -> String {
    test.map(|t| format!("  test {t:.2}")).unwrap_or_default()
}

fn epoch_line(e: &EpochMetrics, epochs: usize) -> String {
    format!(
        "epoch {}/{epochs}  loss {:.4}  validation {:.2}{}  {:.1} s",
        e.epoch,
        e.loss,
        e.valid_accuracy,
        test_part(e.test_accuracy),
        e.train_seconds
    )
}

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let to_stdout = args.json.as_deref().is_some_and(is_stdout);
    if let Some(path) = args.json.as_deref().filter(|_| !to_stdout) {
        check_writable(path, "--json")?;
    }
    let source = match (&args.arch, &args.pick) {
        (Some(arch), _) => Source::Arch(arch.clone()),
        (None, Some(pick)) => Source::Stored {
            store: args.store.clone().expect("clap requires --store"),
            study: args.study.clone().unwrap_or_else(|| "default".into()),
            pick: Pick::parse(pick)?,
        },
        (None, None) => unreachable!("clap requires --arch or --pick"),
    };
    let request = TrainRequest {
        source,
        overrides: args.data.apply(Overrides {
            config: args.config.clone(),
            space: args.space.clone(),
            dataset: args.dataset.clone(),
            data_dir: args.data_dir.clone(),
            study: args.study.clone(),
            epochs: args.epochs,
            train_subset: args.train_subset,
            train_threads: args.threads,
            engine: args.engine.clone(),
            ..Overrides::default()
        }),
        recipe: RecipeFlags {
            set: [
                args.batch_size.map(|v| format!("batch_size={v}")),
                args.optimizer.as_ref().map(|v| format!("optimizer={v}")),
                args.schedule.as_ref().map(|v| format!("schedule={v}")),
            ]
            .into_iter()
            .flatten()
            .chain(args.set.iter().cloned())
            .collect(),
            full: args.full,
        },
        seed: args.seed,
    };
    let job = TrainJob::prepare(&request)?;
    let (about, spec) = (&job.about, &job.spec);
    let say = |text: &str| match to_stdout {
        true => eprintln!("{text}"),
        false => println!("{text}"),
    };
    say(&format!(
        "layernas train: {} {} ({} network: width {}, depth {}; {} params, {:.2} M MAdds) on {}, \
         {} epochs, seed {}, {} threads -> {}",
        about.space,
        about.arch,
        about.network,
        about.width,
        about.depth,
        about.params,
        about.madds,
        spec.dataset,
        spec.recipe.epochs,
        spec.seed,
        spec.recipe.threads,
        args.output.display()
    ));
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if args.quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(
        ProgressStyle::with_template("epoch {msg} [{bar:30}] {pos}/{len} batches {elapsed}")
            .expect("static template")
            .progress_chars("=> "),
    );
    let epochs = spec.recipe.epochs;
    let mut events = |event: RunEvent| match event {
        RunEvent::Started {
            resumed_epochs,
            batches,
            ..
        } => {
            bar.set_length(batches as u64);
            if resumed_epochs > 0 && !args.quiet {
                bar.suspend(|| say(&format!("resuming after epoch {resumed_epochs}")));
            }
        }
        RunEvent::Batch { epoch, done } => {
            bar.set_message(format!("{epoch}/{epochs}"));
            bar.set_position(done as u64);
        }
        RunEvent::Epoch(e) if !args.quiet => bar.suspend(|| say(&epoch_line(e, epochs))),
        RunEvent::Epoch(_) => {}
    };
    let result = job.run(&args.output, args.restart, &Cancel::new(), &mut events);
    bar.finish_and_clear();
    let report = result?;
    if let Some(path) = &args.json {
        write_json(
            path,
            &serde_json::json!({ "about": about, "spec": spec, "report": report }),
        )?;
    }
    let last = report.epochs.last().expect("a finished run has epochs");
    say(&format!(
        "trained: validation {:.2}{} after {} epochs ({:.1} s of training); wrote {}",
        last.valid_accuracy,
        last.test_accuracy
            .map(|t| format!(", test {t:.2}"))
            .unwrap_or_default(),
        last.epoch,
        report.epochs.iter().map(|e| e.train_seconds).sum::<f64>(),
        report
            .files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().to_string()))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(())
}

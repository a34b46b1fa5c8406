//! The commands over stored studies: `layernas status`, `layernas export`, `layernas delete`.
//! The library reads them ([`StoreStatus`], [`trial_rows`]); this module renders.

use clap::{Args, ValueEnum};
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use layernas_core::TrialState;
use layernas_study::outcome::{trial_rows, trials_csv, StoreStatus};
use layernas_study::wiring::{open_existing_store, select_stored};
use layernas_study::StudyError;
use std::path::PathBuf;

pub const STATUS_EXAMPLES: &str = "Examples:
  layernas status --store study.db
  layernas status --store postgres://user@db:5432/nas --study s1 --json";

pub const DELETE_EXAMPLES: &str = "Examples:
  # what would go (nothing is deleted without --yes)
  layernas delete --store study.db --study s1
  layernas delete --store postgres://user@db:5432/nas --study s1 --yes";

pub const EXPORT_EXAMPLES: &str = "Examples:
  layernas export --store study.db --format csv > trials.csv
  layernas export --store postgres://user@db:5432/nas --study s1 --format json --output trials.json";

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Trial store.
    #[arg(long, value_name = "URL")]
    pub store: String,
    /// Study [default: every study in the store].
    #[arg(long)]
    pub study: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let status = StoreStatus::read(&args.store, args.study.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    if status.studies.is_empty() {
        println!("no studies in store {}", args.store);
    }
    for s in &status.studies {
        println!(
            "study {}: {} — {} trials in {} waves: {} pending, {} running, {} complete, {} failed; best reward {}{}",
            s.study,
            if s.done == Some(true) { "finished" } else { "in progress" },
            s.trials, s.waves, s.pending, s.running, s.complete, s.failed,
            s.best.as_ref().map_or("-".into(), |b| format!(
                "{:.3} (cost {:.3}: {})",
                b.reward, b.cost, b.arch
            )),
            s.best_note.as_deref().map_or(String::new(), |n| format!(" ({n})")),
        );
        if let Some(c) = &s.controller {
            println!(
                "  controller {} (lease renewed, expires in {:.0} s unless renewed)",
                c.holder, c.lease_expires_in
            );
        }
        for f in &s.failures {
            println!(
                "  trial {} ({}, {} attempts): {}",
                f.id,
                f.state,
                f.attempts,
                f.error.as_deref().unwrap_or_default()
            );
        }
    }
    if !status.workers.is_empty() {
        let mut table = Table::new();
        table.load_preset(UTF8_BORDERS_ONLY).set_header(vec![
            "worker",
            "last seen (s ago)",
            "trials",
        ]);
        for w in &status.workers {
            table.add_row(vec![
                w.name.clone(),
                format!("{:.0}", w.seconds_since_seen),
                w.trials.to_string(),
            ]);
        }
        println!("{table}");
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Trial store.
    #[arg(long, value_name = "URL")]
    pub store: String,
    /// Study [default: default].
    #[arg(long, default_value = "default")]
    pub study: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Write to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.output {
        layernas_study::output::check_writable(path, "--output")?;
    }
    let trials = trial_rows(&args.store, &args.study)?;
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&trials)? + "\n",
        Format::Csv => trials_csv(&trials)?,
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write --output {}: {e}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Trial store.
    #[arg(long, value_name = "URL")]
    pub store: String,
    /// The study to delete, with all its trials.
    #[arg(long, value_name = "NAME")]
    pub study: String,
    /// Delete; without it, only say what would be deleted.
    #[arg(long)]
    pub yes: bool,
}

/// `layernas delete`: removes one study and its trials (after `--yes`).
pub fn delete(args: &DeleteArgs) -> anyhow::Result<()> {
    let mut store = open_existing_store(&args.store)?;
    select_stored(&args.store, &args.study, &mut *store)?;
    let trials = store.trials()?;
    let complete = trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .count();
    if !args.yes {
        return Err(StudyError::Input(format!(
            "study {} holds {} trials ({complete} complete); nothing deleted: add --yes to delete it \
             (layernas export saves the trials first)",
            args.study,
            trials.len()
        ))
        .into());
    }
    store.delete_study(&args.study)?;
    println!(
        "deleted study {} and its {} trials from {}",
        args.study,
        trials.len(),
        args.store
    );
    Ok(())
}

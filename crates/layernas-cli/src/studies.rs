//! The commands over stored studies: `layernas status`, `layernas export`, `layernas delete`.

use crate::study::{InputError, StudyArgs, StudyFile};
use crate::worker::is_missing_file;
use clap::{Args, ValueEnum};
use comfy_table::{presets::UTF8_BORDERS_ONLY, Table};
use layernas_core::limits::cap_text;
use layernas_core::{now, TrialState, TrialStore};
use std::collections::HashMap;
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

fn open_existing(url: &str, study: &str, store: &mut dyn TrialStore) -> anyhow::Result<()> {
    let config = store
        .study_config(study)?
        .ok_or_else(|| InputError(format!("study {study} is not in store {url}")))?;
    let spec = layernas_core::StudySpec {
        name: study.into(),
        config,
        hash: String::new(),
    };
    store.open_study(&spec, true)?;
    Ok(())
}

fn store_for(url: &str) -> anyhow::Result<Box<dyn TrialStore>> {
    if is_missing_file(url) {
        return Err(InputError(format!("no store at {url}")).into());
    }
    Ok(layernas_store::open_existing(url)?)
}

/// The stored study's answer as its search reports it: the strategy is rebuilt from the stored
/// configuration and replayed over the stored trials, so the cost window and the selection rule
/// apply. `None` when no trial qualifies; an error when the configuration cannot be rebuilt.
fn study_answer(
    config: Option<String>,
    trials: &[layernas_core::Trial],
) -> anyhow::Result<Option<(String, f64, f64)>> {
    let config = config.ok_or_else(|| anyhow::anyhow!("no stored configuration"))?;
    let file: StudyFile = serde_json::from_str(&config)?;
    let study = StudyArgs::default().merge(file)?;
    let space = crate::spaces::resolve(&study.space, study.dataset)?;
    let cost = crate::search::cost_model(&space, &study)?;
    let space = space.dyn_space();
    let mut strategy = crate::search::build_study_strategy(&study, space.clone(), cost.clone())?;
    layernas_core::replay(&mut *strategy, trials);
    Ok(strategy.best().and_then(|arch| {
        let t = trials.iter().find(|t| t.arch == arch)?;
        Some((space.format(&arch), t.reward?, t.cost))
    }))
}

pub fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let mut store = store_for(&args.store)?;
    let studies = match &args.study {
        Some(s) => vec![s.clone()],
        None => store.studies()?,
    };
    let mut report = Vec::new();
    for study in &studies {
        open_existing(&args.store, study, &mut *store)?;
        let trials = store.trials()?;
        let mut by_state: HashMap<&str, usize> = HashMap::new();
        for t in &trials {
            *by_state.entry(t.state.name()).or_default() += 1;
        }
        let waves = trials.iter().map(|t| t.wave).max().map_or(0, |w| w + 1);
        let failures: Vec<serde_json::Value> = trials
            .iter()
            .filter(|t| t.state == TrialState::Failed || (t.error.is_some() && !t.state.is_final()))
            .map(|t| serde_json::json!({"id": t.id, "arch": t.arch.key(), "state": t.state.name(), "attempts": t.attempts, "error": t.error.as_deref().map(cap_text)}))
            .collect();
        let config = store.study_config(study)?;
        let (best, best_note) = match study_answer(config, &trials) {
            Ok(best) => (best, None),
            Err(e) => (
                None,
                Some(format!("the study's answer cannot be rebuilt: {e}")),
            ),
        };
        let controller = store
            .controller(study)?
            .filter(|c| c.expires_in > 0.0)
            .map(|c| serde_json::json!({"holder": c.holder, "lease_expires_in": c.expires_in}));
        report.push(serde_json::json!({
            "study": study,
            "done": store.is_done(study)?,
            "controller": controller,
            "trials": trials.len(),
            "waves": waves,
            "pending": by_state.get("pending").copied().unwrap_or(0),
            "running": by_state.get("running").copied().unwrap_or(0),
            "complete": by_state.get("complete").copied().unwrap_or(0),
            "failed": by_state.get("failed").copied().unwrap_or(0),
            "best_reward": best.as_ref().map(|b| b.1),
            "best": best.as_ref().map(|(arch, reward, cost)| serde_json::json!({"arch": arch, "reward": reward, "cost": cost})),
            "best_note": best_note,
            "failures": failures,
        }));
    }
    let workers: Vec<serde_json::Value> = store
        .workers()?
        .into_iter()
        .map(|(n, seen, count)| serde_json::json!({"name": n, "seconds_since_seen": (now() - seen).max(0.0), "trials": count}))
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"studies": report, "workers": workers})
            )?
        );
        return Ok(());
    }
    if report.is_empty() {
        println!("no studies in store {}", args.store);
    }
    for s in &report {
        println!(
            "study {}: {} — {} trials in {} waves: {} pending, {} running, {} complete, {} failed; best reward {}{}",
            s["study"].as_str().unwrap_or_default(),
            if s["done"] == true { "finished" } else { "in progress" },
            s["trials"], s["waves"], s["pending"], s["running"], s["complete"], s["failed"],
            s["best"].as_object().map_or("-".into(), |b| format!(
                "{:.3} (cost {:.3}: {})",
                b["reward"].as_f64().unwrap_or(f64::NAN),
                b["cost"].as_f64().unwrap_or(f64::NAN),
                b["arch"].as_str().unwrap_or_default()
            )),
            s["best_note"].as_str().map_or(String::new(), |n| format!(" ({n})")),
        );
        if let Some(c) = s["controller"].as_object() {
            println!(
                "  controller {} (lease renewed, expires in {:.0} s unless renewed)",
                c["holder"].as_str().unwrap_or_default(),
                c["lease_expires_in"].as_f64().unwrap_or(0.0)
            );
        }
        for f in s["failures"].as_array().into_iter().flatten() {
            println!(
                "  trial {} ({}, {} attempts): {}",
                f["id"],
                f["state"].as_str().unwrap_or_default(),
                f["attempts"],
                f["error"].as_str().unwrap_or_default()
            );
        }
    }
    if !workers.is_empty() {
        let mut table = Table::new();
        table.load_preset(UTF8_BORDERS_ONLY).set_header(vec![
            "worker",
            "last seen (s ago)",
            "trials",
        ]);
        for w in &workers {
            table.add_row(vec![
                w["name"].as_str().unwrap_or_default().to_string(),
                format!("{:.0}", w["seconds_since_seen"].as_f64().unwrap_or(0.0)),
                w["trials"].to_string(),
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

/// Formats architectures the way the stored study's space writes them (the key if the space
/// cannot be rebuilt, e.g. a space file that moved).
fn formatter(
    store: &mut dyn TrialStore,
    study: &str,
) -> Box<dyn Fn(&layernas_core::Arch) -> String> {
    let space = store
        .study_config(study)
        .ok()
        .flatten()
        .and_then(|c| serde_json::from_str::<StudyFile>(&c).ok())
        .and_then(|f| StudyArgs::default().merge(f).ok())
        .and_then(|s| crate::spaces::resolve(&s.space, s.dataset).ok())
        .map(|s| s.dyn_space());
    match space {
        Some(space) => Box::new(move |a| space.format(a)),
        None => Box::new(|a| a.key()),
    }
}

pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.output {
        crate::search::check_writable(path, "--output")?;
    }
    let mut store = store_for(&args.store)?;
    open_existing(&args.store, &args.study, &mut *store)?;
    let format = formatter(&mut *store, &args.study);
    let trials = store.trials()?;
    let text = match args.format {
        Format::Json => {
            let rows: Vec<serde_json::Value> = trials
                .iter()
                .map(|t| {
                    serde_json::json!({
                        "id": t.id, "arch": format(&t.arch), "key": t.arch.key(),
                        "state": t.state.name(), "cost": t.cost, "reward": t.reward,
                        "metrics": t.metrics, "wave": t.wave, "attempts": t.attempts,
                        "worker": t.worker, "seconds": t.seconds, "error": t.error,
                    })
                })
                .collect();
            serde_json::to_string_pretty(&rows)? + "\n"
        }
        Format::Csv => {
            let metric_names: Vec<String> = {
                let mut names: Vec<String> = trials
                    .iter()
                    .flat_map(|t| t.metrics.keys().cloned())
                    .collect();
                names.sort();
                names.dedup();
                names
            };
            let mut w = csv::Writer::from_writer(Vec::new());
            let mut header = vec![
                "id", "arch", "key", "state", "cost", "reward", "wave", "attempts", "worker",
                "seconds", "error",
            ];
            header.extend(metric_names.iter().map(String::as_str));
            w.write_record(&header)?;
            for t in &trials {
                let mut row = vec![
                    t.id.to_string(),
                    format(&t.arch),
                    t.arch.key(),
                    t.state.name().to_string(),
                    t.cost.to_string(),
                    t.reward.map_or(String::new(), |r| r.to_string()),
                    t.wave.to_string(),
                    t.attempts.to_string(),
                    t.worker.clone().unwrap_or_default(),
                    t.seconds.to_string(),
                    t.error.clone().unwrap_or_default(),
                ];
                row.extend(
                    metric_names
                        .iter()
                        .map(|m| t.metrics.get(m).map_or(String::new(), |v| v.to_string())),
                );
                w.write_record(&row)?;
            }
            String::from_utf8(w.into_inner()?)?
        }
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
    let mut store = store_for(&args.store)?;
    open_existing(&args.store, &args.study, &mut *store)?;
    let trials = store.trials()?;
    let complete = trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .count();
    if !args.yes {
        return Err(InputError(format!(
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

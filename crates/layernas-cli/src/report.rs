//! The outcome of a search as human tables.

use comfy_table::{presets::UTF8_BORDERS_ONLY, Cell, CellAlignment, Table};
use layernas_study::Outcome;

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// Human-readable hours or seconds.
pub fn fmt_duration(seconds: f64) -> String {
    if seconds >= 3600.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else {
        format!("{seconds:.1} s")
    }
}

/// The human summary of a search's outcome: trials, the answer, the front.
pub fn outcome_text(o: &Outcome) -> String {
    {
        let mut out = String::new();
        let unit = &o.cost.unit;
        out.push_str(&format!(
            "trials used: {} (bound {}){}\n",
            o.trials,
            o.trial_bound,
            if o.failed > 0 {
                format!(", {} failed", o.failed)
            } else {
                String::new()
            }
        ));
        if let Some(e) = &o.first_failure {
            let line = e.lines().next().unwrap_or_default();
            out.push_str(&format!(
                "first failure: {line}{}\n",
                if e.lines().count() > 1 { " ..." } else { "" }
            ));
        }
        if o.budget_exhausted {
            out.push_str("stopped early: the trial budget ran out\n");
        }
        if o.low_fidelity_trials > 0 {
            out.push_str(&format!(
                "multi-fidelity: {} of those trials at low fidelity, {} at full{}\n",
                o.low_fidelity_trials,
                o.trials.saturating_sub(o.low_fidelity_trials),
                o.epochs
                    .map(|e| format!("; {e} training epochs in all"))
                    .unwrap_or_default()
            ));
        }
        if let Some(s) = o.sim_seconds {
            out.push_str(&format!(
                "simulated training time of those trials: {}\n",
                fmt_duration(s)
            ));
        }
        let window = match (o.min_cost, o.max_cost) {
            (None, None) => "overall".to_string(),
            (Some(lo), None) => format!("with {} >= {lo} {unit}", o.cost.name),
            (None, Some(hi)) => format!("with {} <= {hi} {unit}", o.cost.name),
            (Some(lo), Some(hi)) => format!("with {lo} <= {} <= {hi} {unit}", o.cost.name),
        };
        out.push('\n');
        match &o.best {
            Some(b) => {
                out.push_str(&format!("best {window}:\n"));
                out.push_str(&format!("  arch        {}\n", b.arch));
                out.push_str(&format!("  {:<11} {:.4} {unit}\n", o.cost.name, b.cost));
                out.push_str(&format!(
                    "  validation  {:.3}  ({})\n",
                    b.reward, o.reward_column
                ));
                out.push_str(&format!(
                    "  test        {}  ({})\n",
                    fmt_opt(b.test, 3),
                    o.test_column
                ));
            }
            None => out.push_str(&format!("no evaluated model {window}\n")),
        }
        out.push_str(&format!(
            "\ncost/accuracy front of the {} evaluated models ({} points):\n",
            o.trials,
            o.front.len()
        ));
        let mut table = Table::new();
        table.load_preset(UTF8_BORDERS_ONLY).set_header(vec![
            Cell::new(format!("{} ({unit})", o.cost.name)),
            Cell::new("validation"),
            Cell::new("test"),
            Cell::new("arch"),
        ]);
        for p in &o.front {
            table.add_row(vec![
                Cell::new(format!("{:.4}", p.cost)).set_alignment(CellAlignment::Right),
                Cell::new(format!("{:.3}", p.reward)).set_alignment(CellAlignment::Right),
                Cell::new(fmt_opt(p.test, 3)).set_alignment(CellAlignment::Right),
                Cell::new(&p.arch),
            ]);
        }
        out.push_str(&table.to_string());
        out.push('\n');
        out
    }
}

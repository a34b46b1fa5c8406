//! The result of a search, as JSON and as human tables.

use comfy_table::{presets::UTF8_BORDERS_ONLY, Cell, CellAlignment, Table};
use layernas_search::{LayerNasConfig, LayerStats};
use serde::Serialize;

/// One model in the output.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub arch: String,
    pub cost: f64,
    pub reward: f64,
    pub test: Option<f64>,
    /// The benchmark table's index of the architecture.
    pub index: Option<u32>,
}

/// Cost model name and unit.
#[derive(Debug, Clone, Serialize)]
pub struct CostInfo {
    pub name: String,
    pub unit: String,
}

/// What `search --json` writes.
#[derive(Debug, Clone, Serialize)]
pub struct SearchReport {
    pub space: String,
    pub dataset: String,
    pub strategy: String,
    pub cost: CostInfo,
    pub reward_column: String,
    pub test_column: String,
    pub min_cost: Option<f64>,
    pub max_cost: Option<f64>,
    pub config: LayerNasConfig,
    pub trials: u64,
    pub failed: u64,
    /// The reason the first failed trial gave (the rest: `layernas export`).
    pub first_failure: Option<String>,
    pub trial_bound: u64,
    pub paper_bound: Option<u64>,
    pub budget_exhausted: bool,
    pub best: Option<Point>,
    pub front: Vec<Point>,
    pub layers: Vec<LayerStats>,
    /// Training time the trials would have cost (NATS-Bench timings), when the table has it.
    pub sim_seconds: Option<f64>,
    pub elapsed_seconds: f64,
}

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

impl SearchReport {
    /// The human summary: trials, the answer, the front.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let unit = &self.cost.unit;
        out.push_str(&format!(
            "trials used: {} (bound {}){}\n",
            self.trials,
            self.trial_bound,
            if self.failed > 0 {
                format!(", {} failed", self.failed)
            } else {
                String::new()
            }
        ));
        if let Some(e) = &self.first_failure {
            let line = e.lines().next().unwrap_or_default();
            out.push_str(&format!(
                "first failure: {line}{}\n",
                if e.lines().count() > 1 { " ..." } else { "" }
            ));
        }
        if self.budget_exhausted {
            out.push_str("stopped early: the trial budget ran out\n");
        }
        if let Some(s) = self.sim_seconds {
            out.push_str(&format!(
                "simulated training time of those trials: {}\n",
                fmt_duration(s)
            ));
        }
        let window = match (self.min_cost, self.max_cost) {
            (None, None) => "overall".to_string(),
            (Some(lo), None) => format!("with {} >= {lo} {unit}", self.cost.name),
            (None, Some(hi)) => format!("with {} <= {hi} {unit}", self.cost.name),
            (Some(lo), Some(hi)) => format!("with {lo} <= {} <= {hi} {unit}", self.cost.name),
        };
        out.push('\n');
        match &self.best {
            Some(b) => {
                out.push_str(&format!("best {window}:\n"));
                out.push_str(&format!("  arch        {}\n", b.arch));
                out.push_str(&format!("  {:<11} {:.4} {unit}\n", self.cost.name, b.cost));
                out.push_str(&format!(
                    "  validation  {:.3}  ({})\n",
                    b.reward, self.reward_column
                ));
                out.push_str(&format!(
                    "  test        {}  ({})\n",
                    fmt_opt(b.test, 3),
                    self.test_column
                ));
            }
            None => out.push_str(&format!("no evaluated model {window}\n")),
        }
        out.push_str(&format!(
            "\ncost/accuracy front of the {} evaluated models ({} points):\n",
            self.trials,
            self.front.len()
        ));
        let mut table = Table::new();
        table.load_preset(UTF8_BORDERS_ONLY).set_header(vec![
            Cell::new(format!("{} ({unit})", self.cost.name)),
            Cell::new("validation"),
            Cell::new("test"),
            Cell::new("arch"),
        ]);
        for p in &self.front {
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

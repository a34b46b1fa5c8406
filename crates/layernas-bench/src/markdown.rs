use crate::grid::{front_regret, mean_std, LAYERNAS_BUDGET};
use crate::metrics::REFERENCE;
use crate::stats::{holm, mann_whitney_u};
use crate::{BenchError, BenchResults};
use layernas_core::SearchSpace as _;
use layernas_plot::{Chart, Series};
use layernas_spaces::Nb201Space;
use layernas_tables::Dataset;
use std::fmt::Write as _;
use std::path::Path;

/// The paper's Table 3 (NATS-Bench topology, test accuracy, mean ± std over 5 runs).
const PAPER: [(&str, [(f64, f64); 3]); 4] = [
    ("random", [(92.39, 0.06), (63.54, 0.24), (42.71, 0.34)]),
    ("evolution", [(94.13, 0.18), (71.40, 0.50), (44.76, 0.64)]),
    ("reinforce", [(94.02, 0.13), (71.68, 0.65), (44.95, 0.52)]),
    ("layernas", [(94.34, 0.12), (73.01, 0.63), (46.58, 0.59)]),
];

fn paper(strategy: &str, ds: Dataset) -> Option<(f64, f64)> {
    let i = Dataset::ALL.iter().position(|&d| d == ds)?;
    PAPER
        .iter()
        .find(|(s, _)| *s == strategy)
        .map(|(_, v)| v[i])
}

pub(crate) fn label(ds: Dataset) -> &'static str {
    match ds {
        Dataset::Cifar10 => "CIFAR-10",
        Dataset::Cifar100 => "CIFAR-100",
        Dataset::Imagenet16 => "ImageNet16-120",
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), BenchError> {
    std::fs::write(path, text).map_err(|e| BenchError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Writes one CSV file.
pub(crate) fn write_csv(
    path: &Path,
    header: &[&str],
    rows: Vec<Vec<String>>,
) -> Result<(), BenchError> {
    let err = |e: csv::Error| BenchError::Write {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut w = csv::Writer::from_path(path).map_err(err)?;
    w.write_record(header).map_err(err)?;
    for row in rows {
        w.write_record(&row).map_err(err)?;
    }
    w.flush().map_err(|e| err(e.into()))
}

fn write_csvs(r: &BenchResults, dir: &Path) -> Result<(), BenchError> {
    let space = Nb201Space::new();
    let arch = |code: usize| space.format(&Nb201Space::from_code(code));
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());

    let runs = r
        .runs
        .iter()
        .map(|run| {
            let (regret, missing) = front_regret(run);
            let (a, v, t) = run
                .answer
                .map(|(c, v, t)| (arch(c), v.to_string(), t.to_string()))
                .unwrap_or_default();
            vec![
                run.strategy.clone(),
                run.dataset.name().into(),
                run.seed.to_string(),
                run.trials.to_string(),
                format!("{:.6}", run.seconds),
                a,
                v,
                t,
                regret.to_string(),
                missing.to_string(),
            ]
        })
        .collect();
    write_csv(
        &dir.join("runs.csv"),
        &[
            "strategy",
            "dataset",
            "seed",
            "trials",
            "seconds",
            "answer_arch",
            "answer_valid",
            "answer_test",
            "front_regret",
            "caps_without_answer",
        ],
        runs,
    )?;

    let curves = r
        .runs
        .iter()
        .flat_map(|run| {
            run.curve.iter().enumerate().map(move |(i, t)| {
                vec![
                    run.strategy.clone(),
                    run.dataset.name().into(),
                    run.seed.to_string(),
                    (i + 1).to_string(),
                    t.to_string(),
                ]
            })
        })
        .collect();
    write_csv(
        &dir.join("curves.csv"),
        &["strategy", "dataset", "seed", "trial", "best_test"],
        curves,
    )?;

    let regrets =
        r.runs
            .iter()
            .flat_map(|run| {
                r.caps[&run.dataset].iter().zip(&run.cap_regret).map(
                    move |((cap, oracle), regret)| {
                        vec![
                            run.strategy.clone(),
                            run.dataset.name().into(),
                            run.seed.to_string(),
                            cap.to_string(),
                            oracle.to_string(),
                            opt(*regret),
                        ]
                    },
                )
            })
            .collect();
    write_csv(
        &dir.join("front_regret.csv"),
        &[
            "strategy",
            "dataset",
            "seed",
            "cap_mflops",
            "oracle_test",
            "regret",
        ],
        regrets,
    )?;

    let assumption = r
        .assumption
        .iter()
        .map(|row| {
            let (ka, kv, kt) = row
                .kept
                .map(|(c, v, t)| (arch(c), v.to_string(), t.to_string()))
                .unwrap_or_default();
            vec![
                row.dataset.name().to_string(),
                row.cost.clone(),
                row.bucket.to_string(),
                arch(row.optimum.0),
                row.optimum.1.to_string(),
                row.optimum.2.to_string(),
                ka,
                kv,
                kt,
                row.recovered.to_string(),
            ]
        })
        .collect();
    write_csv(
        &dir.join("assumption.csv"),
        &[
            "dataset",
            "cost",
            "bucket",
            "optimum_arch",
            "optimum_valid",
            "optimum_test",
            "kept_arch",
            "kept_valid",
            "kept_test",
            "recovered",
        ],
        assumption,
    )?;

    let ablation = r
        .ablation
        .iter()
        .map(|row| {
            vec![
                row.buckets.to_string(),
                row.keep.to_string(),
                row.dataset.name().into(),
                row.trials.to_string(),
                row.regret.to_string(),
                row.missing_caps.to_string(),
            ]
        })
        .collect();
    write_csv(
        &dir.join("ablation.csv"),
        &[
            "buckets",
            "keep",
            "dataset",
            "trials",
            "front_regret",
            "caps_without_answer",
        ],
        ablation,
    )
}

fn write_charts(r: &BenchResults, dir: &Path) -> Result<(), BenchError> {
    for &ds in &r.config.datasets {
        // Best test accuracy (of the best-by-validation model so far) against trials.
        let mut series = Vec::new();
        let mut lowest = f64::MAX;
        for name in &r.config.strategies {
            let curves: Vec<&Vec<f64>> = r
                .runs
                .iter()
                .filter(|x| &x.strategy == name && x.dataset == ds)
                .map(|x| &x.curve)
                .collect();
            let longest = curves.iter().map(|c| c.len()).max().unwrap_or(0);
            let points: Vec<(f64, f64)> = (0..longest)
                .map(|i| {
                    let vals: Vec<f64> = curves
                        .iter()
                        .filter_map(|c| c.get(i).or(c.last()).copied())
                        .collect();
                    ((i + 1) as f64, mean_std(&vals).0)
                })
                .collect();
            if let Some(p) = points.get(9.min(points.len().saturating_sub(1))) {
                lowest = lowest.min(p.1);
            }
            series.push(Series {
                name: name.clone(),
                points,
                reference: false,
            });
        }
        let optimum = r.oracles[&ds].0.best_test();
        let y_range = Some((lowest.min(optimum) - 0.5, optimum + 0.2));
        Chart {
            markers: Vec::new(),
            title: format!(
                "{}: best test accuracy vs trials (mean of {} seeds)",
                label(ds),
                r.config.seeds
            ),
            x_label: "trials".into(),
            y_label: "test accuracy (%) of best-by-validation model".into(),
            series,
            background: &[],
            y_range,
        }
        .write(&dir.join(format!("best_vs_trials_{}", ds.name())))?;

        // Cost/accuracy front: the table's models, the oracle staircase, each strategy's
        // staircase (seed 0): the test accuracy of the best-by-validation model under each cap.
        let (oracle, flops) = &r.oracles[&ds];
        let mut distinct: Vec<f64> = flops.clone();
        distinct.sort_by(f64::total_cmp);
        distinct.dedup();
        let staircase = |codes: &[usize]| -> Vec<(f64, f64)> {
            distinct
                .iter()
                .filter_map(|&cap| {
                    oracle
                        .best_by_valid(codes.iter().copied().filter(|&c| flops[c] <= cap), flops)
                        .map(|c| (cap, oracle.test[c]))
                })
                .collect()
        };
        let all: Vec<usize> = (0..flops.len()).collect();
        // Colours follow the strategy's position, as in the other chart; the oracle comes last
        // (black, drawn on top).
        let mut series = Vec::new();
        for name in &r.config.strategies {
            let points = r
                .runs
                .iter()
                .find(|x| &x.strategy == name && x.dataset == ds && x.seed == 0)
                .map(|run| staircase(&run.evaluated))
                .unwrap_or_default();
            series.push(Series {
                name: format!("{name} (seed 0)"),
                points,
                reference: false,
            });
        }
        series.push(Series {
            name: "table optimum (exhaustive)".into(),
            points: staircase(&all),
            reference: true,
        });
        let background: Vec<(f64, f64)> = all.iter().map(|&c| (flops[c], oracle.test[c])).collect();
        let lo = series
            .last()
            .and_then(|s| s.points.first())
            .map_or(0.0, |p| p.1);
        Chart {
            markers: Vec::new(),
            title: format!(
                "{}: test accuracy of the best-by-validation model under a FLOPs cap",
                label(ds)
            ),
            x_label: "FLOPs cap (M)".into(),
            y_label: "test accuracy (%)".into(),
            series,
            background: &background,
            y_range: Some((lo - 5.0, oracle.best_test() + 0.5)),
        }
        .write(&dir.join(format!("front_{}", ds.name())))?;
    }
    Ok(())
}

/// Writes `report.md`, the CSVs and the charts into `dir` (created if missing).
pub fn write_report(r: &BenchResults, dir: &Path) -> Result<(), BenchError> {
    std::fs::create_dir_all(dir).map_err(|e| BenchError::Write {
        path: dir.display().to_string(),
        reason: e.to_string(),
    })?;
    write_csvs(r, dir)?;
    write_front_csvs(r, dir)?;
    write_charts(r, dir)?;
    write_front_charts(r, dir)?;
    crate::multifidelity::write_csvs(&r.fidelity, dir)?;
    crate::multifidelity::write_charts(&r.config, &r.fidelity, dir)?;
    crate::singlecap::write_csv_file(&r.single_cap, dir)?;
    write_file(&dir.join("report.md"), &summary(r))
}

/// One figure of section 1: a mean with its standard deviation where there is one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figure {
    /// The mean (or the single value).
    pub mean: f64,
    /// The standard deviation over seeds; `None` for a single value.
    pub std: Option<f64>,
}

impl Figure {
    fn render(self) -> String {
        match self.std {
            Some(s) => format!("{:.2}±{s:.2}", self.mean),
            None => format!("{:.2}", self.mean),
        }
    }
}

/// One row of section 1, the paper's Table 3 layout: test accuracy per dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct AccuracyRow {
    /// A strategy's name, or the table's reference rows.
    pub method: String,
    /// Per dataset, in the bench's dataset order: ours, and the paper's figure where it has one.
    pub cells: Vec<(Figure, Option<Figure>)>,
    /// Mean trials per run; `None` where it does not apply.
    pub trials: Option<f64>,
}

/// Section 1 as data: one row per strategy (mean ± std over seeds of the answer's test
/// accuracy, beside the paper's), then the exhaustive oracle (best validation in the table) and
/// the table's optimum (best test).
pub fn test_accuracy(r: &BenchResults) -> Vec<AccuracyRow> {
    let c = &r.config;
    let mut rows = Vec::new();
    for name in &c.strategies {
        let mut cells = Vec::new();
        let mut trials = Vec::new();
        for &ds in &c.datasets {
            let runs: Vec<_> = r
                .runs
                .iter()
                .filter(|x| &x.strategy == name && x.dataset == ds)
                .collect();
            let tests: Vec<f64> = runs.iter().filter_map(|x| x.answer.map(|a| a.2)).collect();
            trials.extend(runs.iter().map(|x| x.trials as f64));
            let (mean, std) = mean_std(&tests);
            let paper = paper(name, ds).map(|(mean, std)| Figure {
                mean,
                std: Some(std),
            });
            cells.push((
                Figure {
                    mean,
                    std: Some(std),
                },
                paper,
            ));
        }
        rows.push(AccuracyRow {
            method: name.clone(),
            cells,
            trials: Some(mean_std(&trials).0),
        });
    }
    let exhaustive = c
        .datasets
        .iter()
        .map(|ds| {
            let (o, flops) = &r.oracles[ds];
            let best = o
                .best_by_valid(0..flops.len(), flops)
                .expect("non-empty table");
            let value = Figure {
                mean: o.test[best],
                std: None,
            };
            (value, None)
        })
        .collect();
    rows.push(AccuracyRow {
        method: "exhaustive (best validation in the table)".into(),
        cells: exhaustive,
        trials: Some(15625.0),
    });
    let optimum = c
        .datasets
        .iter()
        .map(|ds| {
            // The published optimum of each dataset (NATS-Bench), beside the table's.
            let published = match ds {
                Dataset::Cifar10 => 94.37,
                Dataset::Cifar100 => 73.51,
                Dataset::Imagenet16 => 47.31,
            };
            let ours = Figure {
                mean: r.oracles[ds].0.best_test(),
                std: None,
            };
            let paper = Figure {
                mean: published,
                std: None,
            };
            (ours, Some(paper))
        })
        .collect();
    rows.push(AccuracyRow {
        method: "optimum in the table (best test)".into(),
        cells: optimum,
        trials: None,
    });
    rows
}

/// Renders section 1's rows as a markdown table (the report's and `layernas bench`'s).
pub fn accuracy_markdown(datasets: &[Dataset], rows: &[AccuracyRow]) -> String {
    let mut md = String::new();
    let mut header = String::from("| method |");
    let mut rule = String::from("|---|");
    for &ds in datasets {
        let _ = write!(header, " {} | paper |", label(ds));
        rule.push_str("---|---|");
    }
    header.push_str(" trials (mean) |");
    rule.push_str("---|");
    let _ = writeln!(md, "{header}\n{rule}");
    for row in rows {
        let mut line = format!("| {} |", row.method);
        for (ours, paper) in &row.cells {
            let p = paper.map_or("-".into(), Figure::render);
            let _ = write!(line, " {} | {p} |", ours.render());
        }
        let trials = row.trials.map_or("-".into(), |t| format!("{t:.0}"));
        let _ = writeln!(md, "{line} {trials} |");
    }
    md
}

/// What `layernas bench` prints: the test accuracy of every strategy (section 1 of the report)
/// and, beside it, the rank test of LayerNAS against each baseline.
pub fn headline(r: &BenchResults) -> String {
    let mut md = format!(
        "Test accuracy (mean ± std over {} seeds, cost = FLOPs, no cap; the paper's beside ours):\n\n{}",
        r.config.seeds,
        accuracy_markdown(&r.config.datasets, &test_accuracy(r))
    );
    let comparisons = significance(r, Metric::TestAccuracy, "flops");
    if !comparisons.is_empty() {
        md.push('\n');
        md.push_str(&significance_markdown(&r.config.datasets, &comparisons));
    }
    md
}

/// The markdown summary.
pub fn summary(r: &BenchResults) -> String {
    let c = &r.config;
    let mut md = String::new();
    let _ = writeln!(md, "# layernas bench report\n");
    let _ = writeln!(
        md,
        "NAS-Bench-201 topology space, embedded table. {} seeds, budget {} trials per run, {} threads, {:.1} s in all. Reward: validation accuracy (`<dataset>_valid`); reported: the matching test accuracy (`<dataset>_test`).\n",
        c.seeds, c.budget, r.threads, r.seconds
    );

    let _ = writeln!(
        md,
        "## 1. Test accuracy (mean ± std over {} seeds, cost = FLOPs, no cap)\n",
        c.seeds
    );
    md.push_str(&accuracy_markdown(&c.datasets, &test_accuracy(r)));
    md.push('\n');
    let _ = writeln!(md, "Every strategy gets the same budget of {} trials; LayerNAS (H=100, K=1) stops by itself when its last layer is done. A strategy's answer is its best model by validation; the table is the mean over the benchmark's training seeds, so LayerNAS with full expansion is deterministic and its std is 0.\n", c.budget);
    let has_layernas = c.strategies.iter().any(|s| s == "layernas");
    // Significance needs LayerNAS and at least one baseline.
    let compare = has_layernas && c.strategies.len() > 1;
    if compare {
        md.push_str(&significance_markdown(
            &c.datasets,
            &significance(r, Metric::TestAccuracy, "flops"),
        ));
        md.push('\n');
        md.push_str(&significance_note(r));
        md.push('\n');
    }
    if has_layernas {
        let _ = writeln!(md, "At exactly LayerNAS's own trial count (the best-by-validation model each strategy had evaluated by then; mean ± std, trial count in brackets):\n");
        let mut header = String::from("| method |");
        let mut rule = String::from("|---|");
        for &ds in &c.datasets {
            let _ = write!(header, " {} |", label(ds));
            rule.push_str("---|");
        }
        let _ = writeln!(md, "{header}\n{rule}");
        for name in &c.strategies {
            let mut line = format!("| {name} |");
            for &ds in &c.datasets {
                let layernas_trials = r
                    .runs
                    .iter()
                    .filter(|x| x.strategy == "layernas" && x.dataset == ds)
                    .map(|x| x.trials)
                    .max()
                    .unwrap_or(0);
                let at: Vec<f64> = r
                    .runs
                    .iter()
                    .filter(|x| &x.strategy == name && x.dataset == ds)
                    .filter_map(|x| {
                        let i = layernas_trials.min(x.curve.len()).saturating_sub(1);
                        x.curve.get(i).copied()
                    })
                    .collect();
                let (m, sd) = mean_std(&at);
                let _ = write!(line, " {m:.2}±{sd:.2} ({layernas_trials}) |");
            }
            let _ = writeln!(md, "{line}");
        }
        let _ = writeln!(md);
        if compare {
            md.push_str(&significance_markdown(
                &c.datasets,
                &significance(r, Metric::TestAccuracyAtLayerNasTrials, "flops"),
            ));
            let _ = writeln!(md);
        }
    }
    for &ds in &c.datasets {
        let _ = writeln!(
            md,
            "![best vs trials {0}](best_vs_trials_{0}.png)",
            ds.name()
        );
    }

    let _ = writeln!(md, "\n## 2. Front regret over {} FLOPs caps\n", c.caps);
    let _ = writeln!(md, "Regret at a cap = test accuracy of the best-by-validation model of the whole table under the cap − test accuracy of the best-by-validation model the strategy evaluated under it. Each strategy ran once per seed **without a cap** ({} trials) and that one run answers every cap: for LayerNAS this is its front search; the baselines, which have no notion of a front, are run the same way so that all methods spend equal trials for all caps. A run's front regret is its mean over the caps; the table gives its mean ± std over seeds; caps where a run evaluated nothing under the cap are left out of its mean and counted apart.\n", c.budget);
    let mut header = String::from("| method |");
    let mut rule = String::from("|---|");
    for &ds in &c.datasets {
        let _ = write!(header, " {} |", label(ds));
        rule.push_str("---|");
    }
    let _ = writeln!(md, "{header} caps without an answer |\n{rule}---|");
    for name in &c.strategies {
        let mut line = format!("| {name} |");
        let mut missing = 0;
        for &ds in &c.datasets {
            let regrets = values(r, Metric::FrontRegret, "flops", name, ds);
            missing += r
                .runs
                .iter()
                .filter(|x| &x.strategy == name && x.dataset == ds)
                .map(|x| front_regret(x).1)
                .sum::<usize>();
            let (m, sd) = mean_std(&regrets);
            let _ = write!(line, " {m:.3}±{sd:.3} |");
        }
        let _ = writeln!(md, "{line} {missing} |");
    }
    let _ = writeln!(md);
    if compare {
        md.push_str(&significance_markdown(
            &c.datasets,
            &significance(r, Metric::FrontRegret, "flops"),
        ));
        let _ = writeln!(md);
    }
    for &ds in &c.datasets {
        let caps: Vec<String> = r.caps[&ds]
            .iter()
            .map(|(cap, _)| format!("{cap:.1}"))
            .collect();
        let _ = writeln!(md, "- {} caps (MFLOPs): {}", label(ds), caps.join(", "));
    }
    let _ = writeln!(md);
    for &ds in &c.datasets {
        let _ = writeln!(md, "![front {0}](front_{0}.png)", ds.name());
    }

    let _ = writeln!(md, "\n## 3. The optimal-substructure assumption, checked\n");
    let _ = writeln!(md, "LayerNAS (H=100, K=1) front search; for every bucket of the last layer that holds at least one model of the table, is the bucket's best model by validation (found by exhaustive search) among the candidates LayerNAS kept there? Regret = the optimum's accuracy − the kept model's (buckets where LayerNAS kept nothing count as misses and are left out of the regret).\n");
    let _ = writeln!(md, "| dataset | cost | buckets with models | filled by LayerNAS | recovered | recovery rate | mean valid regret | max valid regret | mean test regret |\n|---|---|---|---|---|---|---|---|---|");
    for &ds in &c.datasets {
        for cost in &c.assumption_costs {
            let rows: Vec<_> = r
                .assumption
                .iter()
                .filter(|x| x.dataset == ds && &x.cost == cost)
                .collect();
            let filled: Vec<_> = rows.iter().filter(|x| x.kept.is_some()).collect();
            let recovered = rows.iter().filter(|x| x.recovered).count();
            let vreg: Vec<f64> = filled
                .iter()
                .map(|x| x.optimum.1 - x.kept.expect("filled").1)
                .collect();
            let treg: Vec<f64> = filled
                .iter()
                .map(|x| x.optimum.2 - x.kept.expect("filled").2)
                .collect();
            let max_v = vreg.iter().copied().fold(0.0f64, f64::max);
            let _ = writeln!(
                md,
                "| {} | {cost} | {} | {} | {recovered} | {:.1}% | {:.3} | {:.3} | {:.3} |",
                label(ds),
                rows.len(),
                filled.len(),
                100.0 * recovered as f64 / rows.len().max(1) as f64,
                mean_std(&vreg).0,
                max_v,
                mean_std(&treg).0,
            );
        }
    }

    let _ = writeln!(md, "\n## 4. Ablation of H and K (front search on FLOPs; trials used / front regret, mean over datasets)\n");
    let mut header = String::from("| H \\ K |");
    let mut rule = String::from("|---|");
    for k in &c.ablation_keep {
        let _ = write!(header, " K={k} |");
        rule.push_str("---|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for h in &c.ablation_buckets {
        let mut line = format!("| H={h} |");
        for k in &c.ablation_keep {
            let rows: Vec<_> = r
                .ablation
                .iter()
                .filter(|x| x.buckets == *h && x.keep == *k)
                .collect();
            let trials: Vec<f64> = rows.iter().map(|x| x.trials as f64).collect();
            let regret: Vec<f64> = rows.iter().map(|x| x.regret).collect();
            let _ = write!(
                line,
                " {:.0} / {:.3} |",
                mean_std(&trials).0,
                mean_std(&regret).0
            );
        }
        let _ = writeln!(md, "{line}");
    }

    md.push_str(&fronts_section(r));

    md.push('\n');
    md.push_str(&crate::multifidelity::section(c, &r.fidelity));
    md.push_str(&crate::singlecap::section(c, &r.single_cap));
    let _ = writeln!(md, "\n## Speed\n\nTrials per second of each strategy on the table (the controller's own speed: a table lookup is the whole evaluation), summed over its runs of section 1; runs execute in parallel on {} threads.\n", r.threads);
    let _ = writeln!(
        md,
        "| strategy | runs | trials | seconds | trials/s |\n|---|---|---|---|---|"
    );
    for name in &c.strategies {
        let runs: Vec<_> = r.runs.iter().filter(|x| &x.strategy == name).collect();
        let trials: usize = runs.iter().map(|x| x.trials).sum();
        let secs: f64 = runs.iter().map(|x| x.seconds).sum();
        let _ = writeln!(
            md,
            "| {name} | {} | {trials} | {secs:.3} | {:.0} |",
            runs.len(),
            trials as f64 / secs.max(1e-9)
        );
    }
    let _ = writeln!(md, "\nCSV files: `runs.csv`, `curves.csv`, `front_regret.csv`, `assumption.csv`, `ablation.csv`, `fronts.csv`, `true_fronts.csv`, `hypervolume_curves.csv`, `significance.csv`, `fidelity_runs.csv`, `fidelity_curves.csv`, `single_cap.csv`. Charts: PNG and SVG.");
    md
}

/// What a significance test compares: one value per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Section 1: test accuracy of the run's answer (higher is better).
    TestAccuracy,
    /// Section 1: test accuracy of the best-by-validation model evaluated by LayerNAS's trial
    /// count (higher is better).
    TestAccuracyAtLayerNasTrials,
    /// Section 2: the run's front regret, its mean over the caps (lower is better).
    FrontRegret,
    /// Section 5: normalised hypervolume (higher is better).
    Hypervolume,
    /// Section 5: IGD (lower is better).
    Igd,
    /// Section 5: IGD+ (lower is better).
    IgdPlus,
    /// Section 6: front regret once a run had spent multi-fidelity LayerNAS's mean epochs
    /// (lower is better; runs without an answer at every cap by then are left out).
    RegretAtEqualEpochs,
    /// Section 6: normalised hypervolume once a run had spent multi-fidelity LayerNAS's mean
    /// epochs (higher is better; 0 before a run's first full-fidelity result).
    HypervolumeAtEqualEpochs,
}

impl Metric {
    /// Whether a larger value is better.
    pub fn higher_is_better(self) -> bool {
        matches!(
            self,
            Metric::TestAccuracy
                | Metric::TestAccuracyAtLayerNasTrials
                | Metric::Hypervolume
                | Metric::HypervolumeAtEqualEpochs
        )
    }

    /// Name as the report and `significance.csv` write it.
    pub fn name(self) -> &'static str {
        match self {
            Metric::TestAccuracy => "test accuracy",
            Metric::TestAccuracyAtLayerNasTrials => "test accuracy at LayerNAS's trials",
            Metric::FrontRegret => "front regret",
            Metric::Hypervolume => "HV",
            Metric::Igd => "IGD",
            Metric::IgdPlus => "IGD+",
            Metric::RegretAtEqualEpochs => "front regret at equal epochs",
            Metric::HypervolumeAtEqualEpochs => "HV at equal epochs",
        }
    }
}

/// The family-wise significance level of the verdicts.
pub const ALPHA: f64 = 0.05;

/// LayerNAS against one baseline on one metric, cost and dataset, over the seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The LayerNAS row compared: `layernas`, in section 5 also
    /// [`LAYERNAS_BUDGET`](crate::LAYERNAS_BUDGET), in section 6
    /// [`LAYERNAS_MULTI_FIDELITY`](crate::LAYERNAS_MULTI_FIDELITY).
    pub reference: String,
    /// The metric.
    pub metric: Metric,
    /// The cost (`flops` for sections 1 and 2).
    pub cost: String,
    /// The dataset.
    pub dataset: Dataset,
    /// The baseline's name.
    pub baseline: String,
    /// LayerNAS's mean ± std over its runs.
    pub layernas: Figure,
    /// The baseline's mean ± std over its runs.
    pub other: Figure,
    /// Runs of LayerNAS and of the baseline.
    pub runs: (usize, usize),
    /// Mann-Whitney U of LayerNAS's values against the baseline's, with the metric oriented
    /// so that larger is better.
    pub u: f64,
    /// U / (n1 n2): the probability that a LayerNAS run beats a baseline run, ties counting
    /// one half.
    pub effect: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// `p` after Holm's correction across the baselines of the same metric, cost and dataset.
    pub p_holm: f64,
}

impl Comparison {
    /// `better` or `worse` (LayerNAS against the baseline) when the Holm-corrected p-value is
    /// below [`ALPHA`], `n.s.` otherwise.
    pub fn verdict(&self) -> &'static str {
        if self.p_holm >= ALPHA {
            "n.s."
        } else if self.effect > 0.5 {
            "better"
        } else {
            "worse"
        }
    }
}

/// One value per run of `strategy` on `dataset` for `metric` (under `cost` for section 5),
/// in seed order.
fn values(r: &BenchResults, metric: Metric, cost: &str, strategy: &str, ds: Dataset) -> Vec<f64> {
    let mut out: Vec<(u64, f64)> = match metric {
        Metric::TestAccuracy | Metric::TestAccuracyAtLayerNasTrials | Metric::FrontRegret => {
            let layernas_trials = r
                .runs
                .iter()
                .filter(|x| x.strategy == "layernas" && x.dataset == ds)
                .map(|x| x.trials)
                .max()
                .unwrap_or(0);
            r.runs
                .iter()
                .filter(|x| x.strategy == strategy && x.dataset == ds)
                .filter_map(|x| {
                    let v = match metric {
                        Metric::TestAccuracy => x.answer.map(|a| a.2),
                        Metric::TestAccuracyAtLayerNasTrials => {
                            let i = layernas_trials.min(x.curve.len()).saturating_sub(1);
                            x.curve.get(i).copied()
                        }
                        _ => Some(front_regret(x).0).filter(|v| v.is_finite()),
                    };
                    v.map(|v| (x.seed, v))
                })
                .collect()
        }
        Metric::RegretAtEqualEpochs | Metric::HypervolumeAtEqualEpochs => Vec::new(),
        Metric::Hypervolume | Metric::Igd | Metric::IgdPlus => r
            .fronts
            .iter()
            .filter(|x| x.strategy == strategy && x.dataset == ds && x.cost == cost)
            .map(|x| {
                let v = match metric {
                    Metric::Hypervolume => x.score.hypervolume,
                    Metric::Igd => x.score.igd,
                    _ => x.score.igd_plus,
                };
                (x.seed, v)
            })
            .filter(|x| x.1.is_finite())
            .collect(),
    };
    out.sort_by_key(|x| x.0);
    out.into_iter().map(|x| x.1).collect()
}

/// LayerNAS against every other strategy of the bench on `metric` (under `cost` for section
/// 5; `flops` otherwise), per dataset: a two-sided Mann-Whitney U test over the seeds,
/// Holm-corrected across the baselines of each dataset. Empty when LayerNAS is not among the
/// strategies.
pub fn significance(r: &BenchResults, metric: Metric, cost: &str) -> Vec<Comparison> {
    significance_for(r, "layernas", metric, cost)
}

/// As [`significance`], for the LayerNAS row `reference` (`layernas`, or in section 5
/// [`LAYERNAS_BUDGET`](crate::LAYERNAS_BUDGET)).
pub fn significance_for(
    r: &BenchResults,
    reference: &str,
    metric: Metric,
    cost: &str,
) -> Vec<Comparison> {
    let c = &r.config;
    if !c.strategies.iter().any(|s| s == "layernas") {
        return Vec::new();
    }
    let baselines: Vec<&str> = c
        .strategies
        .iter()
        .map(String::as_str)
        .filter(|s| *s != "layernas")
        .collect();
    compare_runs(
        &c.datasets,
        reference,
        &baselines,
        metric,
        cost,
        |name, ds| values(r, metric, cost, name, ds),
    )
}

/// `reference` against each of `baselines` on `metric` per dataset, one value per run from
/// `values(strategy, dataset)`: a two-sided Mann-Whitney U test, Holm-corrected across the
/// baselines of each dataset.
pub(crate) fn compare_runs(
    datasets: &[Dataset],
    reference: &str,
    baselines: &[&str],
    metric: Metric,
    cost: &str,
    values: impl Fn(&str, Dataset) -> Vec<f64>,
) -> Vec<Comparison> {
    let sign = if metric.higher_is_better() { 1.0 } else { -1.0 };
    let figure = |v: &[f64]| {
        let (mean, std) = mean_std(v);
        Figure {
            mean,
            std: Some(std),
        }
    };
    let mut rows = Vec::new();
    for &ds in datasets {
        let ours = values(reference, ds);
        let oriented: Vec<f64> = ours.iter().map(|v| sign * v).collect();
        let mut family: Vec<Comparison> = baselines
            .iter()
            .filter_map(|&name| {
                let theirs = values(name, ds);
                let flipped: Vec<f64> = theirs.iter().map(|v| sign * v).collect();
                let test = mann_whitney_u(&oriented, &flipped)?;
                Some(Comparison {
                    reference: reference.to_string(),
                    metric,
                    cost: cost.to_string(),
                    dataset: ds,
                    baseline: name.to_string(),
                    layernas: figure(&ours),
                    other: figure(&theirs),
                    runs: (ours.len(), theirs.len()),
                    u: test.u,
                    effect: test.effect(ours.len(), theirs.len()),
                    p: test.p,
                    p_holm: test.p,
                })
            })
            .collect();
        let adjusted = holm(&family.iter().map(|x| x.p).collect::<Vec<_>>());
        for (row, p) in family.iter_mut().zip(adjusted) {
            row.p_holm = p;
        }
        rows.extend(family);
    }
    rows
}

fn p_value(p: f64) -> String {
    if p < 1e-3 {
        format!("{p:.1e}")
    } else {
        format!("{p:.3}")
    }
}

/// Renders comparisons as a markdown table: one row per baseline (and metric, when there are
/// several), one column per dataset; each cell the verdict, the Holm-corrected p-value and A.
pub fn significance_markdown(datasets: &[Dataset], rows: &[Comparison]) -> String {
    let mut md = String::new();
    let mut keys: Vec<(Metric, &str)> = Vec::new();
    for row in rows {
        if !keys.contains(&(row.metric, row.baseline.as_str())) {
            keys.push((row.metric, row.baseline.as_str()));
        }
    }
    let several = keys.iter().any(|k| k.0 != keys[0].0);
    let reference = match rows.first().map(|x| x.reference.as_str()) {
        Some(LAYERNAS_BUDGET) => "LayerNAS (H fitted to the budget)",
        Some(crate::LAYERNAS_MULTI_FIDELITY) => "multi-fidelity LayerNAS",
        _ => "LayerNAS",
    };
    let mut header = format!("| {reference} vs |");
    let mut rule = String::from("|---|");
    for &ds in datasets {
        let _ = write!(header, " {} |", label(ds));
        rule.push_str("---|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for (metric, baseline) in keys {
        let mut line = if several {
            format!("| {baseline}, {} |", metric.name())
        } else {
            format!("| {baseline} |")
        };
        for &ds in datasets {
            let cell = rows
                .iter()
                .find(|x| x.metric == metric && x.baseline == baseline && x.dataset == ds)
                .map_or("-".into(), |x| {
                    format!(
                        "{} (p={}, A={:.2})",
                        x.verdict(),
                        p_value(x.p_holm),
                        x.effect
                    )
                });
            let _ = write!(line, " {cell} |");
        }
        let _ = writeln!(md, "{line}");
    }
    md
}

/// The paragraph under each significance table.
fn significance_note(r: &BenchResults) -> String {
    let baselines = r
        .config
        .strategies
        .iter()
        .filter(|s| *s != "layernas")
        .count();
    format!(
        "Two-sided Mann-Whitney U test of LayerNAS's {} runs against each baseline's (normal approximation with tie and continuity corrections; the exact distribution when there are no ties and a side has at most 8 runs), Holm-corrected across the {baselines} baselines of each column; *better*/*worse* at a family-wise α = {ALPHA}, *n.s.* otherwise. A = the probability that a LayerNAS run beats a baseline run (ties count one half).\n",
        r.config.seeds
    )
}

/// A file-name-safe form of a cost name (`latency:pixel3` -> `latency-pixel3`).
fn slug(cost: &str) -> String {
    cost.replace(':', "-")
}

/// Section 5 of the report.
fn fronts_section(r: &BenchResults) -> String {
    let c = &r.config;
    let mut md = String::new();
    let _ = writeln!(md, "\n## 5. Whole fronts against the true front\n");
    let _ = writeln!(md, "A run's front is the Pareto set of the models it evaluated by (cost, validation accuracy), the same runs as sections 1 and 2 ({} trials, no cap; random, evolution and REINFORCE never look at the cost without a cap, so their FLOPs runs serve every cost, while LayerNAS and NSGA-II search again under each cost). LayerNAS appears twice: with H=100, K=1 as in sections 1 and 2, which under a cost with many distinct values needs more trials than the budget and is cut mid-search (its trial count then equals the budget), and with K=1 and the largest H whose trial bound, stated before the search, fits the budget, so that it always finishes. It is scored with those models' test accuracy against the true front: the Pareto set of the whole table by (cost, test accuracy). Both objectives are normalised by the true front's ideal point (lowest cost, highest test accuracy) and nadir point (highest cost, lowest test accuracy) and minimised, so the true front spans [0, 1] in each; **the reference point is ({REFERENCE}, {REFERENCE})** in normalised (cost, 1 − accuracy). HV = hypervolume (higher is better; the true front's own is printed with it); IGD and IGD+ = mean distance from each true-front point to the nearest point of the run's front, IGD+ counting only where the run is worse (lower is better; 0 = the true front). Mean ± std over {} seeds.\n", c.budget, c.seeds);
    for cost in &c.front_costs {
        let _ = writeln!(md, "### Cost: {cost}\n");
        for &ds in &c.datasets {
            if let Some(t) = r
                .true_fronts
                .iter()
                .find(|t| t.dataset == ds && &t.cost == cost)
            {
                let f = &t.front;
                let _ = writeln!(
                    md,
                    "- {}: true front of {} models, ideal ({:.4}, {:.2}%), nadir ({:.4}, {:.2}%), HV {:.4}",
                    label(ds),
                    f.points.len(),
                    f.ideal.0,
                    f.ideal.1,
                    f.nadir.0,
                    f.nadir.1,
                    f.hypervolume
                );
            }
        }
        let _ = writeln!(md);
        let mut header = String::from("| method |");
        let mut rule = String::from("|---|");
        for &ds in &c.datasets {
            let _ = write!(header, " {0} HV | {0} IGD | {0} IGD+ |", label(ds));
            rule.push_str("---|---|---|");
        }
        let _ = writeln!(md, "{header} trials (mean) |\n{rule}---|");
        for name in &front_rows(r) {
            let mut line = format!("| {} |", front_label(r, name, cost));
            let mut trials = Vec::new();
            for &ds in &c.datasets {
                for metric in [Metric::Hypervolume, Metric::Igd, Metric::IgdPlus] {
                    let (m, sd) = mean_std(&values(r, metric, cost, name, ds));
                    let _ = write!(line, " {m:.4}±{sd:.4} |");
                }
                trials.extend(
                    r.fronts
                        .iter()
                        .filter(|x| &x.strategy == name && x.dataset == ds && &x.cost == cost)
                        .map(|x| x.trials as f64),
                );
            }
            let _ = writeln!(md, "{line} {:.0} |", mean_std(&trials).0);
        }
        for reference in ["layernas", LAYERNAS_BUDGET] {
            let rows: Vec<Comparison> = [Metric::Hypervolume, Metric::Igd, Metric::IgdPlus]
                .into_iter()
                .flat_map(|m| significance_for(r, reference, m, cost))
                .collect();
            if !rows.is_empty() {
                let _ = writeln!(md);
                md.push_str(&significance_markdown(&c.datasets, &rows));
            }
        }
        let _ = writeln!(md);
        for &ds in &c.datasets {
            let _ = writeln!(
                md,
                "![hypervolume vs trials {0} {1}](hypervolume_{0}_{2}.png)",
                ds.name(),
                cost,
                slug(cost)
            );
        }
        let _ = writeln!(md);
    }
    if c.strategies.iter().any(|s| s == "layernas") && c.strategies.len() > 1 {
        md.push_str(&significance_note(r));
    }
    md
}

/// Mean (and std) over seeds of each strategy's hypervolume after each trial, for one dataset
/// and cost; a run that stopped earlier keeps its final value.
fn mean_curves(r: &BenchResults, ds: Dataset, cost: &str) -> Vec<(String, Vec<(f64, f64)>)> {
    front_rows(r)
        .into_iter()
        .map(|name| {
            let curves: Vec<&Vec<f64>> = r
                .fronts
                .iter()
                .filter(|x| x.strategy == name && x.dataset == ds && x.cost == cost)
                .map(|x| &x.hypervolume_curve)
                .collect();
            let longest = curves.iter().map(|c| c.len()).max().unwrap_or(0);
            let points = (0..longest)
                .map(|i| {
                    let vals: Vec<f64> = curves
                        .iter()
                        .filter_map(|c| c.get(i).or(c.last()).copied())
                        .collect();
                    mean_std(&vals)
                })
                .collect();
            (front_label(r, &name, cost), points)
        })
        .collect()
}

/// The rows of section 5: the strategies, then LayerNAS with H fitted to the budget.
fn front_rows(r: &BenchResults) -> Vec<String> {
    let mut rows = r.config.strategies.clone();
    if r.fronts.iter().any(|x| x.strategy == LAYERNAS_BUDGET) {
        rows.push(LAYERNAS_BUDGET.to_string());
    }
    rows
}

/// A row's label in section 5: the LayerNAS rows say their H.
fn front_label(r: &BenchResults, name: &str, cost: &str) -> String {
    let mut hs: Vec<usize> = r
        .fronts
        .iter()
        .filter(|x| x.strategy == name && x.cost == cost)
        .filter_map(|x| x.buckets)
        .collect();
    hs.sort_unstable();
    hs.dedup();
    let hs: Vec<String> = hs.iter().map(|h| h.to_string()).collect();
    match name {
        "layernas" => format!("layernas (H={})", hs.join("/")),
        LAYERNAS_BUDGET => format!(
            "layernas (H={}: bound ≤ {} trials)",
            hs.join("/"),
            r.config.budget
        ),
        _ => name.to_string(),
    }
}

fn write_front_csvs(r: &BenchResults, dir: &Path) -> Result<(), BenchError> {
    let fronts = r
        .fronts
        .iter()
        .map(|x| {
            vec![
                x.strategy.clone(),
                x.dataset.name().into(),
                x.cost.clone(),
                x.seed.to_string(),
                x.trials.to_string(),
                x.buckets.map_or(String::new(), |h| h.to_string()),
                x.score.size.to_string(),
                x.score.hypervolume.to_string(),
                x.score.igd.to_string(),
                x.score.igd_plus.to_string(),
            ]
        })
        .collect();
    write_csv(
        &dir.join("fronts.csv"),
        &[
            "strategy",
            "dataset",
            "cost",
            "seed",
            "trials",
            "buckets",
            "front_size",
            "hypervolume",
            "igd",
            "igd_plus",
        ],
        fronts,
    )?;
    let truth = r
        .true_fronts
        .iter()
        .map(|t| {
            let f = &t.front;
            vec![
                t.dataset.name().into(),
                t.cost.clone(),
                f.points.len().to_string(),
                f.ideal.0.to_string(),
                f.ideal.1.to_string(),
                f.nadir.0.to_string(),
                f.nadir.1.to_string(),
                REFERENCE.to_string(),
                f.hypervolume.to_string(),
            ]
        })
        .collect();
    write_csv(
        &dir.join("true_fronts.csv"),
        &[
            "dataset",
            "cost",
            "models",
            "ideal_cost",
            "ideal_test",
            "nadir_cost",
            "nadir_test",
            "reference",
            "hypervolume",
        ],
        truth,
    )?;
    let mut curves = Vec::new();
    for t in &r.true_fronts {
        for (name, points) in mean_curves(r, t.dataset, &t.cost) {
            for (i, (m, sd)) in points.into_iter().enumerate() {
                curves.push(vec![
                    name.clone(),
                    t.dataset.name().into(),
                    t.cost.clone(),
                    (i + 1).to_string(),
                    m.to_string(),
                    sd.to_string(),
                ]);
            }
        }
    }
    write_csv(
        &dir.join("hypervolume_curves.csv"),
        &["strategy", "dataset", "cost", "trial", "mean", "std"],
        curves,
    )?;
    let mut tests = Vec::new();
    for metric in [
        Metric::TestAccuracy,
        Metric::TestAccuracyAtLayerNasTrials,
        Metric::FrontRegret,
    ] {
        tests.extend(significance(r, metric, "flops"));
    }
    for cost in &r.config.front_costs {
        for reference in ["layernas", LAYERNAS_BUDGET] {
            for metric in [Metric::Hypervolume, Metric::Igd, Metric::IgdPlus] {
                tests.extend(significance_for(r, reference, metric, cost));
            }
        }
    }
    tests.extend(crate::multifidelity::significance(&r.config, &r.fidelity));
    let tests = tests
        .into_iter()
        .map(|x| {
            vec![
                x.reference.clone(),
                x.metric.name().into(),
                x.cost.clone(),
                x.dataset.name().into(),
                x.baseline.clone(),
                x.layernas.mean.to_string(),
                x.layernas.std.unwrap_or(0.0).to_string(),
                x.other.mean.to_string(),
                x.other.std.unwrap_or(0.0).to_string(),
                x.runs.0.to_string(),
                x.runs.1.to_string(),
                x.u.to_string(),
                x.effect.to_string(),
                x.p.to_string(),
                x.p_holm.to_string(),
                x.verdict().into(),
            ]
        })
        .collect();
    write_csv(
        &dir.join("significance.csv"),
        &[
            "reference",
            "metric",
            "cost",
            "dataset",
            "baseline",
            "layernas_mean",
            "layernas_std",
            "baseline_mean",
            "baseline_std",
            "layernas_runs",
            "baseline_runs",
            "u",
            "effect",
            "p",
            "p_holm",
            "verdict",
        ],
        tests,
    )
}

fn write_front_charts(r: &BenchResults, dir: &Path) -> Result<(), BenchError> {
    for t in &r.true_fronts {
        let curves = mean_curves(r, t.dataset, &t.cost);
        let mut lowest = f64::MAX;
        let mut longest = 0;
        let mut series: Vec<Series> = curves
            .into_iter()
            .map(|(name, points)| {
                if let Some(p) = points.get(9.min(points.len().saturating_sub(1))) {
                    lowest = lowest.min(p.0);
                }
                longest = longest.max(points.len());
                Series {
                    name,
                    points: points
                        .into_iter()
                        .enumerate()
                        .map(|(i, (m, _))| ((i + 1) as f64, m))
                        .collect(),
                    reference: false,
                }
            })
            .collect();
        let best = t.front.hypervolume;
        series.push(Series {
            name: "true front".into(),
            points: vec![(1.0, best), (longest.max(1) as f64, best)],
            reference: true,
        });
        let lowest = if lowest.is_finite() { lowest } else { 0.0 };
        Chart {
            markers: Vec::new(),
            title: format!(
                "{}, {}: hypervolume vs trials (mean of {} seeds)",
                label(t.dataset),
                t.cost,
                r.config.seeds
            ),
            x_label: "trials".into(),
            y_label: format!("normalised hypervolume (reference {REFERENCE}, {REFERENCE})"),
            series,
            background: &[],
            y_range: Some((lowest.min(best) - 0.01, best + 0.005)),
        }
        .write(&dir.join(format!(
            "hypervolume_{}_{}",
            t.dataset.name(),
            slug(&t.cost)
        )))?;
    }
    Ok(())
}

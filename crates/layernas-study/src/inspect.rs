//! Describing spaces and networks without searching: a space's layers, size, cost ranges and
//! LayerNAS trial bound ([`SpaceSummary`], `layernas space`), one architecture's network layer
//! by layer ([`NetworkView`], `layernas show` and the dashboard's trial page), and a measured
//! latency table of a space with its check on whole networks ([`ProfileRequest`], `layernas
//! profile`; the measuring is `layernas-latency`'s).

use crate::names::SpaceName;
use crate::study::{Overrides, StudyDataset};
use crate::wiring::{cost_model, Space};
use crate::StudyError;
use layernas_core::{Arch, CostModel, SearchSpace, Strategy};
use layernas_latency::{Check, Engine, Method, Profiler};
use layernas_spaces::network::{Network, Op};
use layernas_spaces::TemplateSpace;
use serde::Serialize;
use std::sync::Arc;

/// A cost model's range over a space.
#[derive(Debug, Clone, Serialize)]
pub struct CostSummary {
    /// Cost model.
    pub name: String,
    /// Unit.
    pub unit: String,
    /// Cheapest model.
    pub min: f64,
    /// Costliest model.
    pub max: f64,
    /// The published backbone's cost, where the space has one.
    pub backbone: Option<f64>,
}

/// One search layer of a space.
#[derive(Debug, Clone, Serialize)]
pub struct LayerInfo {
    /// Name.
    pub name: String,
    /// Options.
    pub options: Vec<String>,
    /// The default option.
    pub default: String,
}

/// What `layernas space` shows.
#[derive(Debug, Clone, Serialize)]
pub struct SpaceSummary {
    /// Space name.
    pub space: String,
    /// What the space is.
    pub description: String,
    /// Its search layers.
    pub layers: Vec<LayerInfo>,
    /// Distinct models (as text: it may exceed 2^64).
    pub models: String,
    /// Range of each cost model.
    pub costs: Vec<CostSummary>,
    /// The backbone's architecture, where the space has one.
    pub backbone: Option<String>,
    /// H of the trial bound.
    pub buckets: usize,
    /// K of the trial bound.
    pub keep: usize,
    /// LayerNAS's trial bound at H and K (front search).
    pub trial_bound: u64,
    /// The paper's H*K*|S|*L.
    pub paper_bound: u64,
}

impl SpaceSummary {
    /// Describes space `name` on `dataset` with the LayerNAS bound at `buckets` and `keep`.
    pub fn of(name: &str, dataset: &str, buckets: usize, keep: usize) -> Result<Self, StudyError> {
        let resolved = Space::resolve(&SpaceName::parse(name)?, StudyDataset::parse(dataset)?)?;
        let space = resolved.dyn_space();
        let (costs, description, backbone) = match &resolved {
            Space::Nb201(_) => (
                vec!["flops", "params"],
                "NAS-Bench-201 / NATS-Bench topology space: a cell of 4 nodes whose 6 edges (the search layers, in arch-string order) each take one of 5 ops; default nor_conv_3x3 (the most costly). Costs and accuracies come from the embedded benchmark table.".to_string(),
                None,
            ),
            Space::Template(t) => (
                vec!["madds", "params"],
                t.description().to_string(),
                t.backbone().cloned(),
            ),
        };
        let mut summaries = Vec::new();
        let (mut trial_bound, mut paper_bound) = (0, 0);
        for cost_name in costs {
            let study = Overrides {
                space: Some(name.into()),
                dataset: Some(dataset.into()),
                cost: Some(cost_name.into()),
                buckets: Some(buckets),
                keep: Some(keep),
                ..Overrides::default()
            }
            .resolve()?;
            let cost: Arc<dyn CostModel> = cost_model(&resolved, &study)?;
            let all = vec![true; space.layers().len()];
            let range = cost.range(&*space, &space.default_arch(), &all);
            summaries.push(CostSummary {
                name: cost_name.into(),
                unit: cost.unit().into(),
                min: range.min,
                max: range.max,
                backbone: backbone.as_ref().map(|b| cost.cost(b)),
            });
            let strategy = study.layernas(space.clone(), cost.clone())?;
            trial_bound = strategy.trial_bound().unwrap_or(0);
            paper_bound = strategy.paper_bound();
        }
        Ok(SpaceSummary {
            space: space.name().to_string(),
            description,
            layers: space
                .layers()
                .iter()
                .map(|l| LayerInfo {
                    name: l.name.clone(),
                    options: l.options.clone(),
                    default: l.options[l.default].clone(),
                })
                .collect(),
            models: space.num_models().to_string(),
            costs: summaries,
            backbone: backbone.as_ref().map(|b| space.format(b)),
            buckets,
            keep,
            trial_bound,
            paper_bound,
        })
    }
}

/// One layer of a network, as `layernas show` tabulates it.
#[derive(Debug, Clone, Serialize)]
pub struct LayerRow {
    /// Input, `HxWxC`.
    pub input: String,
    /// Op name.
    pub op: String,
    /// Kernel (`-` where none).
    pub kernel: String,
    /// Expanded channels and ratio (MBConv).
    pub expansion: String,
    /// Output channels.
    pub out: u32,
    /// Stride.
    pub stride: String,
    /// Squeeze channels of squeeze-and-excite.
    pub se: String,
    /// Activation.
    pub act: String,
    /// Multiply-accumulates.
    pub madds: u64,
    /// Trainable parameters.
    pub params: u64,
}

/// One architecture's network: what `layernas show --json` writes (the rows apart).
#[derive(Debug, Clone, Serialize)]
pub struct NetworkView {
    /// Space name.
    pub space: String,
    /// The architecture, in the space's notation.
    pub arch: String,
    /// The network description.
    #[serde(flatten)]
    pub network: Network,
    /// Total multiply-accumulates.
    pub madds: u64,
    /// Total trainable parameters.
    pub params: u64,
    /// Layer by layer.
    #[serde(skip)]
    pub rows: Vec<LayerRow>,
}

impl NetworkView {
    /// The network of `arch` (as the space writes it) in network space `space` on `dataset`.
    pub fn of(space: &str, dataset: &str, arch: &str) -> Result<Self, StudyError> {
        let template = template_of(space, dataset, "space nb201 has no network description: its costs and accuracies come from the benchmark table (try layernas space nb201)")?;
        let parsed = template.parse_arch(arch).map_err(StudyError::input)?;
        Self::of_arch(&template, &parsed, arch)
    }

    /// The network of `arch` in `template`; errors name the architecture as `written`.
    pub fn of_arch(
        template: &TemplateSpace,
        arch: &Arch,
        written: &str,
    ) -> Result<Self, StudyError> {
        let network = template
            .validate(arch)
            .map_err(|e| StudyError::Input(format!("architecture {written} is invalid: {e}")))?;
        let costs = network.layer_costs().map_err(StudyError::input)?;
        let totals = network.totals().map_err(StudyError::input)?;
        let dash = || "-".to_string();
        let rows = network
            .layers
            .iter()
            .zip(&costs)
            .map(|(op, row)| {
                let (kernel, expansion, stride, se, act) = match op {
                    Op::Conv {
                        kernel,
                        stride,
                        act,
                        ..
                    } => (
                        kernel.to_string(),
                        dash(),
                        stride.to_string(),
                        dash(),
                        act.name().to_string(),
                    ),
                    Op::Mbconv {
                        kernel,
                        expanded,
                        stride,
                        se,
                        act,
                        ..
                    } => (
                        kernel.to_string(),
                        format!(
                            "{expanded} ({:.2}x)",
                            *expanded as f64 / row.in_channels as f64
                        ),
                        stride.to_string(),
                        se.map_or(dash(), |s| s.to_string()),
                        act.name().to_string(),
                    ),
                    Op::Pool { kernel, stride, .. } => (
                        kernel.to_string(),
                        dash(),
                        stride.to_string(),
                        dash(),
                        dash(),
                    ),
                    Op::ResBlock { stride, .. } => (
                        "3".into(),
                        dash(),
                        stride.to_string(),
                        dash(),
                        "relu".into(),
                    ),
                    Op::NatsCell { .. } => ("3".into(), dash(), "1".into(), dash(), "relu".into()),
                    Op::BnAct { act } | Op::Linear { act, .. } => {
                        (dash(), dash(), dash(), dash(), act.name().to_string())
                    }
                    Op::GlobalPool => (dash(), dash(), dash(), dash(), dash()),
                };
                LayerRow {
                    input: format!("{0}x{0}x{1}", row.input, row.in_channels),
                    op: op.name().to_string(),
                    kernel,
                    expansion,
                    out: row.out_channels,
                    stride,
                    se,
                    act,
                    madds: row.madds,
                    params: row.params,
                }
            })
            .collect();
        Ok(NetworkView {
            space: template.name().to_string(),
            arch: template.format(arch),
            network,
            madds: totals.madds,
            params: totals.params,
            rows,
        })
    }
}

/// The network template space `name` on `dataset`; `nb201` is refused with `why`.
pub fn template_of(name: &str, dataset: &str, why: &str) -> Result<Arc<TemplateSpace>, StudyError> {
    match Space::resolve(&SpaceName::parse(name)?, StudyDataset::parse(dataset)?)? {
        Space::Template(t) => Ok(t),
        Space::Nb201(_) => Err(StudyError::Input(why.to_string())),
    }
}

/// What `layernas profile` times: a space's distinct layers, and optionally whole networks.
#[derive(Debug, Clone)]
pub struct ProfileRequest {
    /// The space (a network space or a `.toml` file).
    pub space: String,
    /// The dataset giving nats-sss its input and classes.
    pub dataset: String,
    /// Where the latency table (JSON) goes.
    pub output: std::path::PathBuf,
    /// What runs the layers and networks.
    pub engine: Engine,
    /// How each latency is measured.
    pub method: Method,
    /// Random whole networks the table's `base_ms` is fitted on (0: the engine's cost of one
    /// call alone).
    pub calibration: usize,
    /// Random whole networks to time against the table's predictions (none below 2).
    pub check: Option<usize>,
    /// Seed of those networks (and of the weights and the order of the rounds).
    pub seed: u64,
}

/// What `layernas profile` measured.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileReport {
    /// The space's name.
    pub space: String,
    /// What measured.
    pub engine: Engine,
    /// How.
    pub method: Method,
    /// Layer configurations timed.
    pub layers: usize,
    /// Seconds the table took (its layers and calibration networks).
    pub seconds: f64,
    /// What a network costs beyond its layers' entries (ms), added once per network.
    pub base_ms: f64,
    /// Whole networks `base_ms` was fitted on.
    pub calibration: usize,
    /// The whole-network check, when asked for.
    pub check: Option<Check>,
    /// Seconds the check took.
    pub check_seconds: Option<f64>,
}

/// Where a profile is: timing the layers, or the check's whole networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileStage {
    /// The table's layer configurations.
    Layers,
    /// The check's networks.
    Check,
}

/// A profile ready to run ([`ProfileRequest::plan`]): the space resolved, the knobs and the
/// output path checked.
pub struct ProfilePlan<'a> {
    request: &'a ProfileRequest,
    template: Arc<TemplateSpace>,
    profiler: Profiler,
    /// The space's name.
    pub space_name: String,
    /// Distinct layer configurations to time.
    pub layers: usize,
}

impl ProfileRequest {
    /// Resolves the space and checks the knobs and the output path, before any timing.
    pub fn plan(&self) -> Result<ProfilePlan<'_>, StudyError> {
        let template = template_of(
            &self.space,
            &self.dataset,
            "space nb201 has measured latencies already: use --cost latency:<device> (27 devices in the table)",
        )?;
        let profiler = Profiler::new(self.engine, self.method, self.seed)
            .map_err(|e| StudyError::Input(e.to_string()))?
            .with_calibration(self.calibration);
        crate::output::check_writable(&self.output, "the latency table")?;
        Ok(ProfilePlan {
            request: self,
            space_name: template.name().to_string(),
            layers: layernas_spaces::distinct_layers(&template).len(),
            template,
            profiler,
        })
    }
}

impl ProfilePlan<'_> {
    /// Times every distinct layer of the space on this machine (one thread, batch 1, with the
    /// request's engine), writes the latency table, and checks it on random whole networks
    /// when asked. `progress(stage, done, total)` is called as layers and networks are timed.
    pub fn run(
        &self,
        mut progress: impl FnMut(ProfileStage, usize, usize) + Send,
    ) -> Result<ProfileReport, StudyError> {
        let (request, template) = (self.request, &self.template);
        let failed = |e: layernas_latency::LatencyError| StudyError::Input(e.to_string());
        let started = std::time::Instant::now();
        let table = self
            .profiler
            .table(template, |done, total| {
                progress(ProfileStage::Layers, done, total)
            })
            .map_err(failed)?;
        let seconds = started.elapsed().as_secs_f64();
        crate::output::write_json(&request.output, &table)?;
        let started = std::time::Instant::now();
        let check = match request.check.filter(|&n| n > 1) {
            Some(n) => Some(
                self.profiler
                    .check(template, &table, n, request.seed, |done, total| {
                        progress(ProfileStage::Check, done, total)
                    })
                    .map_err(failed)?,
            ),
            None => None,
        };
        Ok(ProfileReport {
            space: self.space_name.clone(),
            engine: request.engine,
            method: request.method,
            layers: table.entries.len(),
            seconds,
            base_ms: table.base_ms,
            calibration: request.calibration,
            check_seconds: check.as_ref().map(|_| started.elapsed().as_secs_f64()),
            check,
        })
    }
}

//! The latency table of a space and its check on whole networks.

use crate::engine::{prepare, Engine, Part, Runner};
use crate::timing::{measure_samples, median, Method};
use crate::LatencyError;
use layernas_core::{Arch, SearchSpace};
use layernas_spaces::network::{Input, Network, Op};
use layernas_spaces::{distinct_layers, layer_key, spearman, LatencyTable, TemplateSpace};
use rand::{Rng, SeedableRng};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Networks measured together (interleaved): enough that a slow spell of the machine is spread
/// over many, few enough that their weights stay small in memory on the largest spaces.
pub const BATCH: usize = 48;

/// Runners of the reference network in each batch.
const REFERENCE_RUNS: usize = 3;

/// Random whole networks a table's `base_ms` is fitted on, by default.
pub const CALIBRATION: usize = 20;

/// Times layers and networks with one engine on one thread.
pub struct Profiler {
    engine: Engine,
    method: Method,
    seed: u64,
    calibration: usize,
    /// The reference network of the first batch measured, and its time then.
    reference: std::sync::Mutex<Option<(Network, f64)>>,
    pool: rayon::ThreadPool,
}

/// How well a latency table predicts whole networks it was not measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Spearman rank correlation of the table's predictions and the measured latencies.
    pub spearman: f64,
    /// Mean of |predicted - measured| / measured.
    pub mean_error: f64,
    /// Mean of predicted / measured.
    pub mean_ratio: f64,
    /// Each network checked.
    pub networks: Vec<CheckedNetwork>,
}

/// One network of a [`Check`].
#[derive(Debug, Clone, Serialize)]
pub struct CheckedNetwork {
    /// Its architecture, as the space prints it.
    pub arch: String,
    /// The table's latency (ms).
    pub predicted_ms: f64,
    /// The measured latency (ms).
    pub measured_ms: f64,
}

/// `error` with the network it happened on: a layer's key, or a network's layer count.
fn named(network: &Network, error: LatencyError) -> LatencyError {
    let what = match network.layers.as_slice() {
        [op] => format!(
            "layer {}",
            layer_key(op, network.input.channels, network.input.resolution)
        ),
        layers => format!("a network of {} layers", layers.len()),
    };
    LatencyError::Engine(format!("cannot time {what}: {error}"))
}

/// Every batch's reference network for `space`: its default network (its largest).
fn reference(space: &TemplateSpace) -> Network {
    space.network(&space.default_arch())
}

/// The network whose run is all overhead: one global pooling of a single 1x1 value.
fn trivial() -> Network {
    Network {
        input: Input {
            resolution: 1,
            channels: 1,
        },
        layers: vec![Op::GlobalPool],
        classes: 1,
    }
}

impl Profiler {
    /// A profiler measuring with `engine` by `method` (checked); `seed` draws the weights and
    /// the order of the rounds.
    pub fn new(engine: Engine, method: Method, seed: u64) -> Result<Self, LatencyError> {
        method.validate()?;
        // burn parallelises over rayon's current pool: a pool of one thread keeps every
        // measurement single-threaded, as the table says (tract runs on the calling thread).
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .map_err(|e| LatencyError::Engine(format!("cannot start the timing thread: {e}")))?;
        Ok(Profiler {
            engine,
            method,
            seed,
            calibration: CALIBRATION,
            reference: std::sync::Mutex::new(None),
            pool,
        })
    }

    /// Fits the table's `base_ms` on `networks` random whole networks (default
    /// [`CALIBRATION`]); with 0, `base_ms` is the engine's cost of one call alone.
    pub fn with_calibration(mut self, networks: usize) -> Self {
        self.calibration = networks;
        self
    }

    /// The networks [`Profiler::table`] fits `base_ms` on (drawn from the profiler's seed);
    /// [`Profiler::check`] never checks on them.
    pub fn calibration_archs(&self, space: &TemplateSpace) -> Vec<Arch> {
        random_archs(
            space,
            self.calibration,
            self.seed ^ 0xca11_b4a7_e000_0000,
            &BTreeSet::new(),
        )
    }

    /// The latency (ms) of each of `networks`, run as `part`, measured in interleaved batches
    /// of at most [`BATCH`], each also timing `reference` (a whole model): a batch's times are
    /// scaled by the reference's time in the profiler's first batch over this batch's, so a
    /// machine that drifts between batches moves them all alike. `progress(done, total)` counts
    /// networks.
    pub fn networks(
        &self,
        networks: &[Network],
        part: Part,
        reference: &Network,
        progress: impl FnMut(usize, usize) + Send,
    ) -> Result<Vec<f64>, LatencyError> {
        Ok(self.measured(networks, part, reference, progress)?.0)
    }

    /// `networks`' latencies, and per network the latencies of the trivial network measured
    /// in its batch (layers only, and as a whole model): an engine's cost of one call.
    ///
    /// Every batch also times `reference` (a whole model), and its times are scaled by the
    /// reference's time in the profiler's first batch over this one's: a machine that slows
    /// down or speeds up between batches (other work, clock changes) then moves every
    /// measurement alike instead of skewing one batch against another (the table's layers
    /// against its calibration networks, the table against a check).
    #[allow(clippy::type_complexity)]
    fn measured(
        &self,
        networks: &[Network],
        part: Part,
        reference: &Network,
        mut progress: impl FnMut(usize, usize) + Send,
    ) -> Result<(Vec<f64>, Vec<(f64, f64)>), LatencyError> {
        let (engine, method, seed) = (self.engine, self.method, self.seed);
        let level = &self.reference;
        self.pool.install(|| {
            let total = networks.len();
            let mut times = Vec::with_capacity(total);
            let mut overheads = Vec::with_capacity(total);
            // Batches of (nearly) equal size: a last batch of two would interleave little.
            let size = networks
                .len()
                .div_ceil(networks.len().div_ceil(BATCH).max(1));
            for (b, batch) in networks.chunks(size.max(1)).enumerate() {
                let mut runners: Vec<Box<dyn Runner>> = batch
                    .iter()
                    .map(|n| prepare(engine, n, part, seed).map_err(|e| named(n, e)))
                    .collect::<Result<_, _>>()?;
                runners.push(prepare(engine, &trivial(), Part::Layers, seed)?);
                runners.push(prepare(engine, &trivial(), Part::Model, seed)?);
                // The reference thrice: its pooled samples set the batch's scale, so their
                // noise must be smaller than the drift they correct.
                for _ in 0..REFERENCE_RUNS {
                    runners.push(prepare(engine, reference, Part::Model, seed)?);
                }
                let done = times.len();
                let mut rounds = 0;
                let samples = measure_samples(&mut runners, &method, seed ^ b as u64, || {
                    rounds += 1;
                    progress(done + batch.len() * rounds / method.repeats, total);
                })?;
                let n = batch.len();
                let here = median(samples[n + 2..].concat());
                let measured: Vec<f64> = samples.into_iter().map(median).collect();
                let mut level = level.lock().unwrap_or_else(|e| e.into_inner());
                let scale = match &*level {
                    Some((net, ms)) if net == reference => ms / here,
                    _ => {
                        *level = Some((reference.clone(), here));
                        1.0
                    }
                };
                times.extend(measured[..n].iter().map(|t| t * scale));
                overheads.extend(std::iter::repeat_n(
                    (measured[n] * scale, measured[n + 1] * scale),
                    n,
                ));
            }
            Ok((times, overheads))
        })
    }

    /// The latency table of `space`: every distinct layer configuration timed on its own,
    /// less the engine's cost of one call (measured beside it); then the table's `base_ms`,
    /// what a whole network costs beyond its layers' entries, fitted on the calibration
    /// networks ([`Profiler::calibration_archs`]) as the median of measured minus summed
    /// (without calibration networks: the cost of one call). `progress(done, total)` counts
    /// layers, then the calibration networks.
    pub fn table(
        &self,
        space: &TemplateSpace,
        mut progress: impl FnMut(usize, usize) + Send,
    ) -> Result<LatencyTable, LatencyError> {
        let configs = distinct_layers(space);
        let singles: Vec<Network> = configs
            .iter()
            .map(|(op, c, r)| Network {
                input: Input {
                    resolution: *r,
                    channels: *c,
                },
                layers: vec![op.clone()],
                classes: space.classes(),
            })
            .collect();
        let calibration: Vec<Network> = self
            .calibration_archs(space)
            .iter()
            .map(|a| space.network(a))
            .collect();
        let total = singles.len() + calibration.len();
        let reference = reference(space);
        let (times, overheads) = self.measured(&singles, Part::Layers, &reference, |done, _| {
            progress(done, total)
        })?;
        let entries: BTreeMap<String, f64> = configs
            .iter()
            .zip(times.iter().zip(&overheads))
            .map(|((op, c, r), (t, (layer_call, _)))| {
                (layer_key(op, *c, *r), (t - layer_call).max(0.0))
            })
            .collect();
        let mut table = LatencyTable {
            space: space.name().to_string(),
            engine: self.engine.description().to_string(),
            warmup: self.method.warmup,
            repeats: self.method.repeats,
            base_ms: median(
                overheads
                    .iter()
                    .map(|(_, model_call)| *model_call)
                    .collect(),
            ),
            entries,
        };
        if !calibration.is_empty() {
            let n = singles.len();
            let measured = self.networks(&calibration, Part::Model, &reference, |done, _| {
                progress(n + done, total)
            })?;
            let mut residuals = Vec::with_capacity(measured.len());
            for (net, ms) in calibration.iter().zip(measured) {
                let layers = table
                    .network_ms(net)
                    .map_err(|e| LatencyError::Table(e.to_string()))?
                    - table.base_ms;
                residuals.push(ms - layers);
            }
            table.base_ms = median(residuals);
        }
        Ok(table)
    }

    /// Checks `table` on `n` random networks of `space` drawn from `seed`, timed whole (none
    /// of them one the table was calibrated on, where the space has enough).
    pub fn check(
        &self,
        space: &TemplateSpace,
        table: &LatencyTable,
        n: usize,
        seed: u64,
        progress: impl FnMut(usize, usize) + Send,
    ) -> Result<Check, LatencyError> {
        let calibrated: BTreeSet<Arch> = self.calibration_archs(space).into_iter().collect();
        let archs = random_archs(space, n, seed, &calibrated);
        let networks: Vec<Network> = archs.iter().map(|a| space.network(a)).collect();
        let predicted = networks
            .iter()
            .map(|net| table.network_ms(net))
            .collect::<Result<Vec<f64>, _>>()
            .map_err(|e| LatencyError::Table(e.to_string()))?;
        let measured = self.networks(&networks, Part::Model, &reference(space), progress)?;
        Ok(check_of(space, &archs, predicted, measured))
    }
}

fn check_of(
    space: &TemplateSpace,
    archs: &[Arch],
    predicted: Vec<f64>,
    measured: Vec<f64>,
) -> Check {
    let n = archs.len().max(1) as f64;
    Check {
        spearman: spearman(&predicted, &measured),
        mean_error: predicted
            .iter()
            .zip(&measured)
            .map(|(p, m)| (p - m).abs() / m)
            .sum::<f64>()
            / n,
        mean_ratio: predicted
            .iter()
            .zip(&measured)
            .map(|(p, m)| p / m)
            .sum::<f64>()
            / n,
        networks: archs
            .iter()
            .zip(predicted.iter().zip(&measured))
            .map(|(arch, (p, m))| CheckedNetwork {
                arch: space.format(arch),
                predicted_ms: *p,
                measured_ms: *m,
            })
            .collect(),
    }
}

/// `n` random architectures of `space` (canonical, drawn from `seed`; none in `exclude` and
/// none twice, where the space has that many).
pub fn random_archs(
    space: &TemplateSpace,
    n: usize,
    seed: u64,
    exclude: &BTreeSet<Arch>,
) -> Vec<Arch> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut seen = exclude.clone();
    let mut out = Vec::with_capacity(n);
    let mut tries = 0;
    while out.len() < n {
        let arch = space.canonical(&Arch::new(
            space
                .layers()
                .iter()
                .map(|l| rng.random_range(0..l.options.len()) as u16)
                .collect(),
        ));
        tries += 1;
        // A small space may not have n distinct networks: repeat only when it must.
        if seen.insert(arch.clone()) || tries > 100 * n {
            out.push(arch);
        }
    }
    out
}

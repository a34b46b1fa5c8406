//! The profiler on a tiny space, with both engines: every layer of every architecture is in
//! the table, the table prices architectures, a check runs on whole networks, and a table of
//! another space is refused. (The pure cost model and `spearman` are tested in
//! `layernas-spaces`, the measurement's arithmetic in `timing`.)

use layernas_core::{CostModel, SearchSpace};
use layernas_latency::{Engine, LatencyError, Method, Profiler};
use layernas_spaces::{distinct_layers, layer_key, nats_sss_space, space_from_toml, TableLatency};
use std::sync::Arc;

const TINY: &str = r#"
name = "tiny"
classes = 10
input = { resolution = 16, channels = 1 }
[[layers]]
op = "conv"
out = [4, 8]
kernel = 3
stride = 2
[[layers]]
op = "mbconv"
out = [8, 12]
kernel = [3, 5]
expand = 2
se = [false, true]
act = "hswish"
optional = true
[[layers]]
op = "global_pool"
[[layers]]
op = "linear"
"#;

const QUICK: Method = Method {
    warmup: 1,
    repeats: 3,
    sample_ms: 0.2,
};

#[test]
fn the_table_covers_every_architecture_and_prices_it_on_both_engines() {
    let space = Arc::new(space_from_toml(TINY, "tiny.toml").unwrap());
    for engine in Engine::ALL {
        // Without calibration the base is the measured cost of one call.
        let uncalibrated = Profiler::new(engine, QUICK, 0)
            .unwrap()
            .with_calibration(0)
            .table(&space, |_, _| {})
            .unwrap();
        assert!(
            uncalibrated.base_ms > 0.0 && uncalibrated.base_ms < 1.0,
            "{engine}: {}",
            uncalibrated.base_ms
        );
        let profiler = Profiler::new(engine, QUICK, 0).unwrap().with_calibration(3);
        let mut last = (0, 0);
        let table = profiler
            .table(&space, |done, total| last = (done, total))
            .unwrap();
        let layers = distinct_layers(&space).len();
        assert_eq!(
            last,
            (layers + 3, layers + 3),
            "{engine}: progress ends at the total"
        );
        assert_eq!(table.entries.len(), layers);
        assert_eq!(table.engine, engine.description());
        assert!(
            table
                .entries
                .values()
                .all(|ms| ms.is_finite() && *ms >= 0.0),
            "{engine}"
        );
        assert!(table.base_ms.is_finite(), "{engine}");
        let cost = TableLatency::new(space.clone(), table.clone(), "latency:tiny".into()).unwrap();
        // Every architecture's layers are in the table.
        let options: Vec<usize> = space.layers().iter().map(|l| l.options.len()).collect();
        let n: usize = options.iter().product();
        for code in 0..n {
            let mut rest = code;
            let mut arch = space.default_arch();
            for (i, o) in options.iter().enumerate() {
                arch.set(i, rest % o);
                rest /= o;
            }
            let net = space.network(&arch);
            let rows = net.layer_costs().unwrap();
            for (op, row) in net.layers.iter().zip(&rows) {
                assert!(table
                    .entries
                    .contains_key(&layer_key(op, row.in_channels, row.input)));
            }
            // A missing layer would price it at infinity.
            let ms = cost.cost(&arch);
            assert!(ms.is_finite() && ms >= table.base_ms, "{engine}: {ms}");
        }
        let check = profiler.check(&space, &table, 4, 1, |_, _| {}).unwrap();
        assert_eq!(check.networks.len(), 4);
        // The check's networks are none of those the base was fitted on.
        let calibrated: Vec<String> = profiler
            .calibration_archs(&space)
            .iter()
            .map(|a| space.format(a))
            .collect();
        assert_eq!(calibrated.len(), 3);
        assert!(check.networks.iter().all(|n| !calibrated.contains(&n.arch)));
        assert!(check.networks.iter().all(|n| n.measured_ms > 0.0));
        assert!(check.mean_error.is_finite() && check.spearman.abs() <= 1.0 + 1e-9);
        let other = Arc::new(nats_sss_space(32, 10));
        assert!(TableLatency::new(other, table, "x".into()).is_err());
    }
}

#[test]
fn bad_knobs_and_engines_are_refused_by_name() {
    let err = |method: Method| match Profiler::new(Engine::Burn, method, 0) {
        Err(LatencyError::Knob(msg)) => msg,
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("accepted {method:?}"),
    };
    let repeats = err(Method {
        repeats: 0,
        ..Method::default()
    });
    assert_eq!(repeats, "--repeats must be at least 1");
    for bad in [0.0, -1.0, f64::NAN, 1001.0] {
        let msg = err(Method {
            sample_ms: bad,
            ..Method::default()
        });
        assert!(msg.starts_with("--sample-ms must be"), "{msg}");
    }
    let unknown = "onnxruntime".parse::<Engine>().unwrap_err();
    assert_eq!(unknown, "unknown engine \"onnxruntime\": burn or tract");
    assert_eq!("tract".parse::<Engine>(), Ok(Engine::Tract));
}

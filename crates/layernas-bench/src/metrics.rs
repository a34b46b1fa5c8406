//! Whole-front metrics against the true front: normalised hypervolume, IGD and IGD+.
//!
//! A run's front is the Pareto set of the models it evaluated by (cost, validation accuracy),
//! the only thing a search can know; it is scored with the same models' test accuracy against
//! the table's true front, the Pareto set of all models by (cost, test accuracy). Both
//! objectives are normalised by the true front's ideal point (its lowest cost, its highest
//! test accuracy) and nadir point (its highest cost, its lowest test accuracy) and turned into
//! minimisation: `((cost - ideal) / (nadir - ideal), (best - accuracy) / (best - worst))`, so
//! the true front spans [0, 1] in both and the reference point [`REFERENCE`] in both is the
//! same for every run, strategy and tool.

use layernas_core::pareto_front;

/// The hypervolume's reference point, in each normalised objective.
pub const REFERENCE: f64 = 1.01;

/// A point in normalised objectives (both minimised).
pub type Point = (f64, f64);

/// Hypervolume dominated by `points` (both objectives minimised) and bounded by `reference`:
/// the area of the union of the boxes `[p, reference]`. Points not strictly better than the
/// reference in both objectives add nothing. O(n log n).
pub fn hypervolume_2d(points: &[Point], reference: Point) -> f64 {
    let mut inside: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| p.0 < reference.0 && p.1 < reference.1)
        .collect();
    inside.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    // Sweep by the first objective: each point that improves the best second objective so far
    // adds the slab between its second objective and the previous best.
    let mut area = 0.0;
    let mut floor = reference.1;
    for (x, y) in inside {
        if y < floor {
            area += (reference.0 - x) * (floor - y);
            floor = y;
        }
    }
    area
}

/// Inverted generational distance: the mean, over the points of `front`, of the Euclidean
/// distance to the nearest point of `set`. Infinite for an empty set.
pub fn igd(front: &[Point], set: &[Point]) -> f64 {
    mean_nearest(front, set, |z, a| {
        ((a.0 - z.0).powi(2) + (a.1 - z.1).powi(2)).sqrt()
    })
}

/// IGD+ (Ishibuchi et al. 2015): as [`igd`], but only the amount by which a point of `set` is
/// worse than a point of `front` counts, `sqrt(max(a1 - z1, 0)^2 + max(a2 - z2, 0)^2)`, which
/// makes it weakly Pareto compliant.
pub fn igd_plus(front: &[Point], set: &[Point]) -> f64 {
    mean_nearest(front, set, |z, a| {
        ((a.0 - z.0).max(0.0).powi(2) + (a.1 - z.1).max(0.0).powi(2)).sqrt()
    })
}

fn mean_nearest(front: &[Point], set: &[Point], d: impl Fn(Point, Point) -> f64) -> f64 {
    if set.is_empty() {
        return f64::INFINITY;
    }
    if front.is_empty() {
        return 0.0;
    }
    front
        .iter()
        .map(|&z| set.iter().map(|&a| d(z, a)).fold(f64::INFINITY, f64::min))
        .sum::<f64>()
        / front.len() as f64
}

/// A run's front scored against the true front.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrontScore {
    /// Hypervolume in normalised objectives with the reference point at [`REFERENCE`] (higher
    /// is better; the true front's own is [`TrueFront::hypervolume`]).
    pub hypervolume: f64,
    /// IGD in normalised objectives (lower is better; 0 = the true front).
    pub igd: f64,
    /// IGD+ in normalised objectives (lower is better; 0 = the true front or better).
    pub igd_plus: f64,
    /// Models on the run's front (by validation).
    pub size: usize,
}

/// The table's true cost/test-accuracy front for one cost, and its normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct TrueFront {
    /// The front as (cost, test accuracy), by increasing cost.
    pub points: Vec<(f64, f64)>,
    /// The ideal point: lowest cost and highest test accuracy of the front.
    pub ideal: (f64, f64),
    /// The nadir point: highest cost and lowest test accuracy of the front.
    pub nadir: (f64, f64),
    /// The front's own hypervolume in normalised objectives (the most a run can reach).
    pub hypervolume: f64,
    normalised: Vec<Point>,
}

impl TrueFront {
    /// The true front of a table with `costs` and `test` accuracies by code.
    pub fn new(costs: &[f64], test: &[f64]) -> TrueFront {
        let all: Vec<(f64, f64)> = costs.iter().copied().zip(test.iter().copied()).collect();
        let points: Vec<(f64, f64)> = pareto_front(&all).into_iter().map(|i| all[i]).collect();
        let first = points.first().copied().unwrap_or((0.0, 0.0));
        let last = points.last().copied().unwrap_or((0.0, 0.0));
        // By increasing cost the front's accuracy increases: the first point is the cheapest
        // and least accurate, the last the costliest and most accurate.
        let ideal = (first.0, last.1);
        let nadir = (last.0, first.1);
        let mut front = TrueFront {
            points,
            ideal,
            nadir,
            hypervolume: 0.0,
            normalised: Vec::new(),
        };
        front.normalised = front.points.iter().map(|&p| front.normalise(p)).collect();
        front.hypervolume = hypervolume_2d(&front.normalised, (REFERENCE, REFERENCE));
        front
    }

    /// `(cost, accuracy)` in normalised minimised objectives: the ideal point is (0, 0), the
    /// nadir (1, 1). A degenerate range (a one-point front) is taken as 1.
    pub fn normalise(&self, (cost, accuracy): (f64, f64)) -> Point {
        let span = |a: f64, b: f64| if b > a { b - a } else { 1.0 };
        (
            (cost - self.ideal.0) / span(self.ideal.0, self.nadir.0),
            (self.ideal.1 - accuracy) / span(self.nadir.1, self.ideal.1),
        )
    }

    /// Scores a set of `(cost, test accuracy)` points (a run's front).
    pub fn score(&self, set: &[(f64, f64)]) -> FrontScore {
        let set: Vec<Point> = set.iter().map(|&p| self.normalise(p)).collect();
        FrontScore {
            hypervolume: hypervolume_2d(&set, (REFERENCE, REFERENCE)),
            igd: igd(&self.normalised, &set),
            igd_plus: igd_plus(&self.normalised, &set),
            size: set.len(),
        }
    }
}

/// A run's front: the Pareto set of the evaluated `codes` by (cost, validation accuracy), as
/// (cost, test accuracy) points.
pub fn run_front(codes: &[usize], costs: &[f64], valid: &[f64], test: &[f64]) -> Vec<(f64, f64)> {
    let by_valid: Vec<(f64, f64)> = codes.iter().map(|&c| (costs[c], valid[c])).collect();
    pareto_front(&by_valid)
        .into_iter()
        .map(|i| (costs[codes[i]], test[codes[i]]))
        .collect()
}

/// The hypervolume of the run's front after each trial: `curve[i]` scores the front of
/// `codes[..=i]`. Equal to [`TrueFront::score`] of [`run_front`] of each prefix.
pub fn hypervolume_curve(
    front: &TrueFront,
    codes: &[usize],
    costs: &[f64],
    valid: &[f64],
    test: &[f64],
) -> Vec<f64> {
    // The validation front so far as (cost, valid, test), by increasing cost; of equal
    // (cost, valid) points the first stays, as in `pareto_front`.
    let mut current: Vec<(f64, f64, f64)> = Vec::new();
    let mut hv = 0.0;
    let mut curve = Vec::with_capacity(codes.len());
    for &c in codes {
        let (cost, v) = (costs[c], valid[c]);
        let dominated = current.iter().any(|q| q.0 <= cost && q.1 >= v);
        if !dominated {
            current.retain(|q| !(cost <= q.0 && v >= q.1));
            let at = current.partition_point(|q| q.0 < cost);
            current.insert(at, (cost, v, test[c]));
            let set: Vec<Point> = current
                .iter()
                .map(|q| front.normalise((q.0, q.2)))
                .collect();
            hv = hypervolume_2d(&set, (REFERENCE, REFERENCE));
        }
        curve.push(hv);
    }
    curve
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hypervolume_of_a_staircase_by_hand() {
        // Boxes [1,4]x[3,4] (3), [2,4]x[2,4] (4), [3,4]x[1,4] (3); union 3 + 2 + 1 = 6.
        let pts = [(3.0, 1.0), (1.0, 3.0), (2.0, 2.0)];
        assert_eq!(hypervolume_2d(&pts, (4.0, 4.0)), 6.0);
        // A dominated point and a point beyond the reference add nothing.
        let more = [(3.0, 1.0), (1.0, 3.0), (2.0, 2.0), (2.5, 2.5), (5.0, 0.0)];
        assert_eq!(hypervolume_2d(&more, (4.0, 4.0)), 6.0);
        // One point: its box.
        assert_eq!(hypervolume_2d(&[(0.0, 0.0)], (1.01, 1.01)), 1.01 * 1.01);
        assert_eq!(hypervolume_2d(&[], (1.0, 1.0)), 0.0);
        // On the reference line: nothing.
        assert_eq!(hypervolume_2d(&[(1.0, 0.0)], (1.0, 1.0)), 0.0);
    }

    #[test]
    fn igd_and_igd_plus_by_hand() {
        let front = [(0.0, 1.0), (1.0, 0.0)];
        // One point at (1, 1): distance 1 to both front points.
        assert_eq!(igd(&front, &[(1.0, 1.0)]), 1.0);
        assert_eq!(igd_plus(&front, &[(1.0, 1.0)]), 1.0);
        // A point better than the front in one objective: IGD counts the overshoot, IGD+
        // does not. (0, 0) is at distance 1 from both points; under IGD+ at 0 from both.
        assert_eq!(igd(&front, &[(0.0, 0.0)]), 1.0);
        assert_eq!(igd_plus(&front, &[(0.0, 0.0)]), 0.0);
        // (0.5, 0.5): Euclidean sqrt(0.5) from each; IGD+ 0.5 from each.
        let h = 0.5f64.sqrt();
        assert!((igd(&front, &[(0.5, 0.5)]) - h).abs() < 1e-15);
        assert!((igd_plus(&front, &[(0.5, 0.5)]) - 0.5).abs() < 1e-15);
        // The front itself scores 0.
        assert_eq!(igd(&front, &front), 0.0);
        assert_eq!(igd_plus(&front, &front), 0.0);
        assert!(igd(&front, &[]).is_infinite());
    }

    #[test]
    fn true_front_normalisation_by_hand() {
        // Costs and test accuracies of five models; the front is models 0, 1, 3.
        let costs = [1.0, 2.0, 2.0, 5.0, 4.0];
        let test = [10.0, 50.0, 40.0, 90.0, 30.0];
        let f = TrueFront::new(&costs, &test);
        assert_eq!(f.points, vec![(1.0, 10.0), (2.0, 50.0), (5.0, 90.0)]);
        assert_eq!(f.ideal, (1.0, 90.0));
        assert_eq!(f.nadir, (5.0, 10.0));
        assert_eq!(f.normalise((1.0, 10.0)), (0.0, 1.0));
        assert_eq!(f.normalise((5.0, 90.0)), (1.0, 0.0));
        assert_eq!(f.normalise((2.0, 50.0)), (0.25, 0.5));
        // Normalised front (0, 1), (0.25, 0.5), (1, 0) with reference 1.01:
        // 1.01 * 0.01 + 0.76 * 0.5 + 0.01 * 0.5 = 0.0101 + 0.38 + 0.005.
        assert!((f.hypervolume - 0.3951).abs() < 1e-12, "{}", f.hypervolume);
        let own = f.score(&f.points);
        assert!((own.hypervolume - f.hypervolume).abs() < 1e-15);
        assert_eq!((own.igd, own.igd_plus, own.size), (0.0, 0.0, 3));
        // A run that found only the middle model.
        let s = f.score(&[(2.0, 50.0)]);
        assert!((s.hypervolume - 0.76 * 0.51).abs() < 1e-12);
        // IGD+: from (0, 1): (0.25, 0); from (0.25, 0.5): 0; from (1, 0): (0, 0.5).
        assert!((s.igd_plus - (0.25 + 0.0 + 0.5) / 3.0).abs() < 1e-12);
        let igd_want =
            ((0.25f64.powi(2) + 0.25).sqrt() + 0.0 + (0.75f64.powi(2) + 0.25).sqrt()) / 3.0;
        assert!((s.igd - igd_want).abs() < 1e-12);
    }

    #[test]
    fn the_run_front_is_by_validation_and_scored_by_test() {
        let costs = [1.0, 2.0, 3.0];
        let valid = [50.0, 40.0, 60.0];
        let test = [55.0, 70.0, 52.0];
        // Model 1 is dominated by validation (costlier and worse than 0), whatever its test.
        assert_eq!(
            run_front(&[0, 1, 2], &costs, &valid, &test),
            vec![(1.0, 55.0), (3.0, 52.0)]
        );
    }

    /// Brute force: the area of the union of boxes on the grid of all coordinates.
    fn brute_hypervolume(points: &[Point], r: Point) -> f64 {
        let mut xs: Vec<f64> = points.iter().map(|p| p.0.min(r.0)).chain([r.0]).collect();
        let mut ys: Vec<f64> = points.iter().map(|p| p.1.min(r.1)).chain([r.1]).collect();
        xs.sort_by(f64::total_cmp);
        ys.sort_by(f64::total_cmp);
        let mut area = 0.0;
        for i in 0..xs.len() - 1 {
            for j in 0..ys.len() - 1 {
                let (cx, cy) = (xs[i], ys[j]);
                if points.iter().any(|p| p.0 <= cx && p.1 <= cy) {
                    area += (xs[i + 1] - xs[i]) * (ys[j + 1] - ys[j]);
                }
            }
        }
        area
    }

    proptest! {
        #[test]
        fn sweep_equals_brute_force(pts in proptest::collection::vec((0u8..12, 0u8..12), 0..20)) {
            let pts: Vec<Point> = pts.into_iter().map(|(a, b)| (f64::from(a) / 10.0, f64::from(b) / 10.0)).collect();
            let r = (1.01, 1.01);
            let fast = hypervolume_2d(&pts, r);
            let slow = brute_hypervolume(&pts, r);
            prop_assert!((fast - slow).abs() < 1e-12, "{} vs {}", fast, slow);
        }

        #[test]
        fn the_curve_scores_every_prefix(codes in proptest::collection::vec(0usize..40, 1..60)) {
            // A small made-up table of 40 models.
            let costs: Vec<f64> = (0..40).map(|i| f64::from((i * 7 % 13) as u8)).collect();
            let valid: Vec<f64> = (0..40).map(|i| f64::from((i * 11 % 17) as u8)).collect();
            let test: Vec<f64> = (0..40).map(|i| f64::from((i * 5 % 19) as u8)).collect();
            let front = TrueFront::new(&costs, &test);
            let curve = hypervolume_curve(&front, &codes, &costs, &valid, &test);
            for i in 0..codes.len() {
                let want = front.score(&run_front(&codes[..=i], &costs, &valid, &test)).hypervolume;
                prop_assert!((curve[i] - want).abs() < 1e-12, "at {}: {} vs {}", i, curve[i], want);
            }
        }
    }
}

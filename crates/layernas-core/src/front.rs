/// Indices of the Pareto set of `(cost, reward)` points: lower cost and higher reward are
/// better. Returned by increasing cost; of equal points only the first is kept.
///
/// ```
/// let pts = [(1.0, 0.5), (2.0, 0.4), (2.0, 0.7), (3.0, 0.9), (0.5, 0.1)];
/// assert_eq!(layernas_core::pareto_front(&pts), vec![4, 0, 2, 3]);
/// ```
pub fn pareto_front(points: &[(f64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by(|&a, &b| {
        points[a]
            .0
            .total_cmp(&points[b].0)
            .then(points[b].1.total_cmp(&points[a].1))
            .then(a.cmp(&b))
    });
    let mut front = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for i in order {
        if points[i].1 > best {
            best = points[i].1;
            front.push(i);
        }
    }
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dominated_points_are_dropped() {
        let pts = [(1.0, 1.0), (1.0, 2.0), (2.0, 1.5), (3.0, 3.0)];
        assert_eq!(pareto_front(&pts), vec![1, 3]);
    }

    #[test]
    fn empty_input_gives_empty_front() {
        assert!(pareto_front(&[]).is_empty());
    }
}

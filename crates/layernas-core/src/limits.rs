//! Bounds on what a trial record may hold, whatever an evaluator returns: every store and every
//! report stays small however verbose (or hostile) the evaluator is.

use crate::{Evaluation, Trial};
use std::collections::BTreeMap;

/// Most bytes of a stored text field (a trial's error): longer text keeps its first part and
/// says it was cut, e.g. `... [cut: 1048576 bytes in all]`.
pub const MAX_TEXT_BYTES: usize = 4096;

/// Most bytes of a metric's name; a longer name is cut the same way.
pub const MAX_METRIC_NAME_BYTES: usize = 128;

/// Most metrics kept per trial (in name order); when more are given, the metric
/// `metrics_dropped` counts the rest.
pub const MAX_METRICS: usize = 64;

/// `text` cut to at most `max` bytes (on a character boundary) plus a note saying how long it
/// was, or unchanged when it fits.
pub fn cap_to(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} ... [cut: {} bytes in all]", &text[..end], text.len())
}

/// A stored text field, at most [`MAX_TEXT_BYTES`] (plus the note).
pub fn cap_text(text: &str) -> String {
    cap_to(text, MAX_TEXT_BYTES)
}

/// Metrics within [`MAX_METRICS`] and [`MAX_METRIC_NAME_BYTES`].
pub fn cap_metrics(metrics: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let fits =
        metrics.len() <= MAX_METRICS && metrics.keys().all(|k| k.len() <= MAX_METRIC_NAME_BYTES);
    if fits {
        return metrics.clone();
    }
    let mut kept: BTreeMap<String, f64> = metrics
        .iter()
        .take(MAX_METRICS)
        .map(|(k, v)| (cap_to(k, MAX_METRIC_NAME_BYTES), *v))
        .collect();
    if metrics.len() > MAX_METRICS {
        kept.insert(
            "metrics_dropped".into(),
            (metrics.len() - MAX_METRICS) as f64,
        );
    }
    kept
}

/// An evaluation within the bounds.
pub fn cap_evaluation(e: &Evaluation) -> Evaluation {
    Evaluation {
        reward: e.reward,
        metrics: cap_metrics(&e.metrics),
    }
}

/// A trial record within the bounds (error, metrics, worker name).
pub fn cap_trial(t: &Trial) -> Trial {
    let mut t = t.clone();
    t.error = t.error.as_deref().map(cap_text);
    t.worker = t.worker.as_deref().map(cap_text);
    t.metrics = cap_metrics(&t.metrics);
    t
}

/// The text of the regular file at `path`, refused (with the reason, for the caller's message)
/// when it is not a regular file (a FIFO or a device such as /dev/zero would never end), holds
/// more than `max_bytes`, or is not UTF-8.
pub fn read_bounded_text(path: &std::path::Path, max_bytes: u64) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(max_bytes + 1).read_to_end(&mut bytes))
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > max_bytes {
        return Err(format!("larger than {} MiB", max_bytes >> 20));
    }
    String::from_utf8(bytes).map_err(|e| format!("not UTF-8 text ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary_and_says_so() {
        let text = "é".repeat(5000); // 10,000 bytes
        let cut = cap_text(&text);
        assert!(cut.len() < MAX_TEXT_BYTES + 40, "{}", cut.len());
        assert!(cut.ends_with(" ... [cut: 10000 bytes in all]"), "{cut}");
        assert_eq!(cap_text("short"), "short");
    }

    #[test]
    fn metrics_are_bounded_in_number_and_name_length() {
        let many: BTreeMap<String, f64> = (0..1000).map(|i| (format!("m{i:04}"), 1.0)).collect();
        let kept = cap_metrics(&many);
        assert_eq!(kept.len(), MAX_METRICS + 1);
        assert_eq!(kept["metrics_dropped"], 936.0);
        let long: BTreeMap<String, f64> = [("x".repeat(10_000), 2.0)].into_iter().collect();
        let kept = cap_metrics(&long);
        let name = kept.keys().next().unwrap();
        assert!(name.len() < 200 && name.contains("[cut: 10000 bytes in all]"));
    }
}

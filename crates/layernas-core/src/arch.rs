use serde::{Deserialize, Serialize};
use std::fmt;

/// One architecture: the index of the chosen option for every layer of a search space.
///
/// Its [`key`](Arch::key) is stable across runs and versions: the option indices joined by `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Arch(Vec<u16>);

impl Arch {
    /// An architecture from per-layer option indices.
    pub fn new(options: Vec<u16>) -> Self {
        Arch(options)
    }

    /// Per-layer option indices.
    pub fn options(&self) -> &[u16] {
        &self.0
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an architecture of zero layers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Option index chosen at `layer`.
    pub fn get(&self, layer: usize) -> usize {
        self.0[layer] as usize
    }

    /// A copy with `layer` set to `option`.
    pub fn with(&self, layer: usize, option: usize) -> Arch {
        let mut next = self.clone();
        next.0[layer] = option as u16;
        next
    }

    /// Sets `layer` to `option` in place.
    pub fn set(&mut self, layer: usize, option: usize) {
        self.0[layer] = option as u16;
    }

    /// Stable key, e.g. `3-3-0-1-4-2`.
    pub fn key(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|o| o.to_string()).collect();
        parts.join("-")
    }

    /// Parses a [`key`](Arch::key).
    pub fn from_key(key: &str) -> Option<Arch> {
        if key.is_empty() {
            return Some(Arch(Vec::new()));
        }
        key.split('-')
            .map(|p| p.parse::<u16>().ok())
            .collect::<Option<Vec<_>>>()
            .map(Arch)
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips() {
        let a = Arch::new(vec![3, 0, 12, 1]);
        assert_eq!(a.key(), "3-0-12-1");
        assert_eq!(Arch::from_key(&a.key()), Some(a));
        assert_eq!(Arch::from_key("1-x"), None);
    }

    #[test]
    fn with_changes_one_layer() {
        let a = Arch::new(vec![1, 1, 1]);
        assert_eq!(a.with(1, 4).options(), &[1, 4, 1]);
        assert_eq!(a.options(), &[1, 1, 1]);
    }
}

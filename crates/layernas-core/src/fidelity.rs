use serde::{Deserialize, Serialize};

/// How thoroughly a trial trains its architecture. A trial is identified by its architecture
/// **and** its fidelity: the same architecture may be evaluated once at each fidelity, never
/// twice at one.
///
/// What a fidelity means is the evaluator's business: on the NAS-Bench-201 table, `Low` reads
/// the 12-epoch columns (`e12_*`) and `Full` the 200-epoch ones; the built-in trainer trains a
/// `Low` trial with its low-fidelity recipe (fewer epochs, a smaller subset). Every study that
/// does not ask for multi-fidelity search evaluates everything at `Full`, and stores written
/// before fidelities existed hold `Full` trials only.
///
/// ```
/// use layernas_core::Fidelity;
/// assert_eq!(Fidelity::default(), Fidelity::Full);
/// assert_eq!(Fidelity::parse("low"), Some(Fidelity::Low));
/// assert_eq!(Fidelity::Low.name(), "low");
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Fidelity {
    /// A cheap, rough evaluation, to decide what deserves a full one.
    Low,
    /// The evaluation the search's answer is chosen on (the only one without multi-fidelity).
    #[default]
    Full,
}

impl Fidelity {
    /// Both fidelities, cheapest first.
    pub const ALL: [Fidelity; 2] = [Fidelity::Low, Fidelity::Full];

    /// Name as stores, exports and the trial protocol write it.
    pub fn name(self) -> &'static str {
        match self {
            Fidelity::Low => "low",
            Fidelity::Full => "full",
        }
    }

    /// Parses [`name`](Fidelity::name).
    pub fn parse(name: &str) -> Option<Fidelity> {
        match name {
            "low" => Some(Fidelity::Low),
            "full" => Some(Fidelity::Full),
            _ => None,
        }
    }

    /// True for [`Fidelity::Full`].
    pub fn is_full(&self) -> bool {
        *self == Fidelity::Full
    }
}

impl std::fmt::Display for Fidelity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The metric in which an evaluator reports a trial's training cost, in epochs (the table: 12
/// at low fidelity, 200 at full; the built-in trainer: the epochs of the recipe it ran). A
/// search's training epochs are the sum of it over its trials.
pub const EPOCHS_METRIC: &str = "epochs";

/// The metric in which an evaluator reports the simulated training time of a trial, in seconds
/// (the table, where it has timings: CIFAR-10).
pub const SIM_SECONDS_METRIC: &str = "sim_seconds";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Fidelity::ALL {
            assert_eq!(Fidelity::parse(f.name()), Some(f));
            assert_eq!(f.to_string(), f.name());
        }
        assert_eq!(Fidelity::parse("medium"), None);
    }
}

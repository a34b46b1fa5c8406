//! The errors of a study: bad input (exit code 2 in the CLI) or a failure while it runs.

use layernas_core::StoreError;
use layernas_search::ConfigError;

/// What went wrong with a study. [`StudyError::is_input`] tells a bad input (a malformed or
/// invalid study, a missing file, a changed configuration) from a failure of the run.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// A field names something that does not exist.
    #[error("unknown {field} {value:?} (allowed: {allowed})")]
    Unknown {
        /// The field, as the study file spells it.
        field: &'static str,
        /// The value given.
        value: String,
        /// The values it may take, comma-separated.
        allowed: String,
    },
    /// A field's value is outside its range.
    #[error("invalid {field} {value}: {rule}")]
    Invalid {
        /// The field, as the study file spells it.
        field: &'static str,
        /// The value given, as written back.
        value: String,
        /// What the value must be.
        rule: String,
    },
    /// Any other bad input: conflicting knobs, unreadable files, a study not in the store.
    #[error("{0}")]
    Input(String),
    /// A strategy knob out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store failed (a changed configuration is a bad input, the rest are not).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The executor failed.
    #[error(transparent)]
    Exec(#[from] layernas_core::ExecError),
    /// The search ran, but produced nothing usable (every trial failed).
    #[error("{0}")]
    Run(String),
}

impl StudyError {
    /// Whether the error is the user's input (exit code 2) rather than a failure (exit 1).
    pub fn is_input(&self) -> bool {
        match self {
            StudyError::Unknown { .. }
            | StudyError::Invalid { .. }
            | StudyError::Input(_)
            | StudyError::Config(_) => true,
            StudyError::Store(e) => matches!(e, StoreError::ConfigChanged { .. }),
            StudyError::Exec(_) | StudyError::Run(_) => false,
        }
    }

    /// A bad input with this message.
    pub fn input(message: impl std::fmt::Display) -> Self {
        StudyError::Input(message.to_string())
    }
}

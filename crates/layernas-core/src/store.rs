use crate::{Arch, Trial};
use std::collections::HashMap;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed.
    #[error("trial store: {0}")]
    Backend(String),
}

/// The single source of truth for a study's trials.
pub trait TrialStore: Send {
    /// Records a finished (complete or failed) trial.
    fn record(&mut self, trial: Trial) -> Result<(), StoreError>;

    /// The finished trial of `arch`, if there is one.
    fn lookup(&self, arch: &Arch) -> Result<Option<Trial>, StoreError>;

    /// Number of finished trials.
    fn len(&self) -> Result<usize, StoreError>;

    /// True when no trial is stored.
    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// Every finished trial, by id.
    fn trials(&self) -> Result<Vec<Trial>, StoreError>;
}

/// A store in memory: the default for table searches and tests.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    trials: Vec<Trial>,
    by_arch: HashMap<Arch, usize>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TrialStore for MemoryStore {
    fn record(&mut self, trial: Trial) -> Result<(), StoreError> {
        if let Some(&i) = self.by_arch.get(&trial.arch) {
            self.trials[i] = trial;
        } else {
            self.by_arch.insert(trial.arch.clone(), self.trials.len());
            self.trials.push(trial);
        }
        Ok(())
    }

    fn lookup(&self, arch: &Arch) -> Result<Option<Trial>, StoreError> {
        Ok(self.by_arch.get(arch).map(|&i| self.trials[i].clone()))
    }

    fn len(&self) -> Result<usize, StoreError> {
        Ok(self.trials.len())
    }

    fn trials(&self) -> Result<Vec<Trial>, StoreError> {
        let mut all = self.trials.clone();
        all.sort_by_key(|t| t.id);
        Ok(all)
    }
}

use crate::limits::{cap_evaluation, cap_text, cap_trial};
use crate::{Arch, Evaluation, Fidelity, Trial, TrialState};
use std::collections::HashMap;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (connection, SQL, disk).
    #[error("trial store: {0}")]
    Backend(String),
    /// The study exists with another configuration.
    #[error("study {study} exists in this store with a different configuration (stored hash {stored}, this run {given}); use a new --study name, or --allow-changed-config to continue it anyway")]
    ConfigChanged {
        /// Study name.
        study: String,
        /// Hash stored.
        stored: String,
        /// Hash of this run.
        given: String,
    },
    /// A stored row cannot be read back.
    #[error("trial store: corrupt record: {0}")]
    Corrupt(String),
    /// No study is open.
    #[error("trial store: no study is open")]
    NoStudy,
}

/// A study as stored: name, configuration (JSON) and its hash.
#[derive(Debug, Clone, PartialEq)]
pub struct StudySpec {
    /// Study name, unique in the store.
    pub name: String,
    /// The configuration, as JSON.
    pub config: String,
    /// Hash of the configuration's search-relevant part.
    pub hash: String,
}

/// What opening a study found.
#[derive(Debug, Clone, PartialEq)]
pub enum StudyOpen {
    /// A new study.
    Created,
    /// An existing study with this many trials.
    Resumed {
        /// Stored trials.
        trials: usize,
    },
}

/// A trial handed to a worker.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// Study.
    pub study: String,
    /// Trial id.
    pub id: u64,
    /// Architecture.
    pub arch: Arch,
    /// The fidelity to evaluate it at.
    pub fidelity: Fidelity,
    /// This attempt's number (1 = first).
    pub attempt: u32,
    /// Lease token: only the holder of the current token may report.
    pub token: i64,
}

/// What became of a reported result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    /// Recorded as complete.
    Complete,
    /// Failed; back to pending for another attempt.
    Retry,
    /// Failed for good.
    Failed,
    /// The lease had passed to someone else: the result was not recorded.
    Stale,
}

impl Reported {
    /// The one retry rule, which the executor and every store apply: a failed evaluation goes
    /// back to pending while the attempts made are below `max_attempts`, and fails for good
    /// once they reach it.
    pub fn after_failure(attempts: u32, max_attempts: u32) -> Reported {
        if attempts < max_attempts {
            Reported::Retry
        } else {
            Reported::Failed
        }
    }
}

/// A study's controller lease as stored: only its holder runs the study's search loop.
#[derive(Debug, Clone, PartialEq)]
pub struct ControllerLease {
    /// Who holds it, e.g. `host:pid`.
    pub holder: String,
    /// The holder's token (a new one per controller run).
    pub token: i64,
    /// Seconds until it expires unless renewed (negative: it expired that long ago).
    pub expires_in: f64,
}

/// What asking to control a study found.
#[derive(Debug, Clone, PartialEq)]
pub enum Lead {
    /// The lease is ours now. `previous` is another controller's lease it replaced (expired,
    /// or taken over by force), if any.
    Acquired {
        /// The lease replaced.
        previous: Option<ControllerLease>,
    },
    /// Another controller holds a live lease.
    Held(ControllerLease),
}

/// The single source of truth for a study: its configuration and every trial.
///
/// A store serves one open study at a time ([`open_study`](TrialStore::open_study)) for the
/// controller, and any study for workers ([`claim`](TrialStore::claim)).
pub trait TrialStore: Send {
    /// Creates the study or, if it exists, checks its configuration hash (a different hash is
    /// refused unless `allow_changed`). Makes it the open study.
    fn open_study(
        &mut self,
        spec: &StudySpec,
        allow_changed: bool,
    ) -> Result<StudyOpen, StoreError>;

    /// The open study's trial of `arch` at `fidelity`, in any state. A study holds at most
    /// one trial per (architecture, fidelity).
    fn lookup_at(&mut self, arch: &Arch, fidelity: Fidelity) -> Result<Option<Trial>, StoreError>;

    /// The open study's full-fidelity trial of `arch`, in any state.
    fn lookup(&mut self, arch: &Arch) -> Result<Option<Trial>, StoreError> {
        self.lookup_at(arch, Fidelity::Full)
    }

    /// The open study's trials with these ids.
    fn get(&mut self, ids: &[u64]) -> Result<Vec<Trial>, StoreError>;

    /// The id the next new trial gets (one more than the largest).
    fn next_id(&mut self) -> Result<u64, StoreError>;

    /// Inserts planned trials as pending, in one transaction (a trial whose architecture and
    /// fidelity the study already holds is left alone).
    fn enqueue(&mut self, trials: &[Trial]) -> Result<(), StoreError>;

    /// Marks a trial running for an evaluation in this process (attempts + 1).
    fn start(&mut self, id: u64, worker: &str) -> Result<(), StoreError>;

    /// Writes a trial's final or retried state as evaluated in this process.
    fn finish(&mut self, trial: &Trial) -> Result<(), StoreError>;

    /// Every trial of the open study, by id.
    fn trials(&mut self) -> Result<Vec<Trial>, StoreError>;

    /// Marks the open study finished (workers waiting on it exit).
    fn set_done(&mut self, done: bool) -> Result<(), StoreError>;

    /// Whether `study` is finished; `None` if it does not exist.
    fn is_done(&mut self, study: &str) -> Result<Option<bool>, StoreError>;

    /// The configuration JSON of `study`.
    fn study_config(&mut self, study: &str) -> Result<Option<String>, StoreError>;

    /// Atomically hands one pending trial (or a running one whose lease of `lease_seconds`
    /// expired) of `study` (or of any study) to `worker`.
    fn claim(
        &mut self,
        study: Option<&str>,
        worker: &str,
        lease_seconds: f64,
    ) -> Result<Option<Claim>, StoreError>;

    /// Renews a lease; false when it was lost.
    fn heartbeat(&mut self, claim: &Claim) -> Result<bool, StoreError>;

    /// Records the result of a claimed trial, if the lease is still held. A failure goes back to
    /// pending while attempts < `max_attempts`.
    fn report(
        &mut self,
        claim: &Claim,
        result: Result<&Evaluation, &str>,
        seconds: f64,
        max_attempts: u32,
    ) -> Result<Reported, StoreError>;

    /// Workers seen: name, last seen (unix seconds), trials reported.
    fn workers(&mut self) -> Result<Vec<(String, f64, u64)>, StoreError>;

    /// Names of the studies in the store.
    fn studies(&mut self) -> Result<Vec<String>, StoreError>;

    /// Deletes a study and all its trials (nothing else); false if there was none. If it was the
    /// open study, no study is open afterwards.
    fn delete_study(&mut self, study: &str) -> Result<bool, StoreError>;

    /// Takes the controller lease of `study` for `lease_seconds` as `holder` with `token`: when
    /// no one holds it, it expired, this token already holds it, or `take_over` is set;
    /// otherwise reports the live holder. Workers need no lease.
    fn acquire_controller(
        &mut self,
        study: &str,
        holder: &str,
        token: i64,
        lease_seconds: f64,
        take_over: bool,
    ) -> Result<Lead, StoreError>;

    /// Extends the lease held with `token` to `lease_seconds` from now; false when it is held
    /// by another token (taken over) or gone.
    fn renew_controller(
        &mut self,
        study: &str,
        token: i64,
        lease_seconds: f64,
    ) -> Result<bool, StoreError>;

    /// Gives up the lease held with `token` (nothing if another token holds it).
    fn release_controller(&mut self, study: &str, token: i64) -> Result<(), StoreError>;

    /// The controller lease of `study`, live or expired, if any.
    fn controller(&mut self, study: &str) -> Result<Option<ControllerLease>, StoreError>;
}

/// Seconds since the Unix epoch.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[derive(Debug, Clone, Default)]
struct MemStudy {
    config: String,
    hash: String,
    done: bool,
    trials: Vec<Trial>,
    by_arch: HashMap<(Arch, Fidelity), usize>,
    by_id: HashMap<u64, usize>,
    tokens: HashMap<u64, (i64, f64)>,
}

/// A store in memory: the default when no `--store` is given, and the reference for the
/// conformance suite.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    studies: HashMap<String, MemStudy>,
    open: Option<String>,
    workers: HashMap<String, (f64, u64)>,
    next_token: i64,
    /// Study -> (holder, token, expires at).
    controllers: HashMap<String, (String, i64, f64)>,
}

impl MemStudy {
    fn push(&mut self, trial: Trial) {
        self.by_arch
            .insert((trial.arch.clone(), trial.fidelity), self.trials.len());
        self.by_id.insert(trial.id, self.trials.len());
        self.trials.push(trial);
    }

    fn by_id_mut(&mut self, id: u64) -> Option<&mut Trial> {
        let i = *self.by_id.get(&id)?;
        Some(&mut self.trials[i])
    }
}

impl MemoryStore {
    /// An empty store with one open study named `default`.
    pub fn new() -> Self {
        let mut store = MemoryStore::default();
        store
            .open_study(
                &StudySpec {
                    name: "default".into(),
                    config: "{}".into(),
                    hash: String::new(),
                },
                true,
            )
            .expect("memory store cannot fail");
        store
    }

    fn study(&mut self) -> Result<&mut MemStudy, StoreError> {
        let name = self.open.as_ref().ok_or(StoreError::NoStudy)?;
        self.studies.get_mut(name).ok_or(StoreError::NoStudy)
    }
}

impl TrialStore for MemoryStore {
    fn open_study(
        &mut self,
        spec: &StudySpec,
        allow_changed: bool,
    ) -> Result<StudyOpen, StoreError> {
        let opened = match self.studies.get_mut(&spec.name) {
            Some(s) => {
                if s.hash != spec.hash && !allow_changed {
                    return Err(StoreError::ConfigChanged {
                        study: spec.name.clone(),
                        stored: s.hash.clone(),
                        given: spec.hash.clone(),
                    });
                }
                StudyOpen::Resumed {
                    trials: s.trials.len(),
                }
            }
            None => {
                self.studies.insert(
                    spec.name.clone(),
                    MemStudy {
                        config: spec.config.clone(),
                        hash: spec.hash.clone(),
                        ..MemStudy::default()
                    },
                );
                StudyOpen::Created
            }
        };
        self.open = Some(spec.name.clone());
        Ok(opened)
    }

    fn lookup_at(&mut self, arch: &Arch, fidelity: Fidelity) -> Result<Option<Trial>, StoreError> {
        let s = self.study()?;
        Ok(s.by_arch
            .get(&(arch.clone(), fidelity))
            .map(|&i| s.trials[i].clone()))
    }

    fn get(&mut self, ids: &[u64]) -> Result<Vec<Trial>, StoreError> {
        let s = self.study()?;
        Ok(ids
            .iter()
            .filter_map(|&id| s.by_id.get(&id).map(|&i| s.trials[i].clone()))
            .collect())
    }

    fn next_id(&mut self) -> Result<u64, StoreError> {
        Ok(self
            .study()?
            .trials
            .iter()
            .map(|t| t.id + 1)
            .max()
            .unwrap_or(0))
    }

    fn enqueue(&mut self, trials: &[Trial]) -> Result<(), StoreError> {
        let s = self.study()?;
        for t in trials {
            if !s.by_arch.contains_key(&(t.arch.clone(), t.fidelity)) {
                let mut t = t.clone();
                t.state = TrialState::Pending;
                s.push(t);
            }
        }
        Ok(())
    }

    fn start(&mut self, id: u64, worker: &str) -> Result<(), StoreError> {
        let s = self.study()?;
        if let Some(t) = s.by_id_mut(id) {
            t.state = TrialState::Running;
            t.attempts += 1;
            t.worker = Some(worker.to_string());
        }
        Ok(())
    }

    fn finish(&mut self, trial: &Trial) -> Result<(), StoreError> {
        let trial = &cap_trial(trial);
        let s = self.study()?;
        match s.by_arch.get(&(trial.arch.clone(), trial.fidelity)) {
            Some(&i) => s.trials[i] = trial.clone(),
            None => s.push(trial.clone()),
        }
        Ok(())
    }

    fn trials(&mut self) -> Result<Vec<Trial>, StoreError> {
        let mut all = self.study()?.trials.clone();
        all.sort_by_key(|t| t.id);
        Ok(all)
    }

    fn set_done(&mut self, done: bool) -> Result<(), StoreError> {
        self.study()?.done = done;
        Ok(())
    }

    fn is_done(&mut self, study: &str) -> Result<Option<bool>, StoreError> {
        Ok(self.studies.get(study).map(|s| s.done))
    }

    fn study_config(&mut self, study: &str) -> Result<Option<String>, StoreError> {
        Ok(self.studies.get(study).map(|s| s.config.clone()))
    }

    fn claim(
        &mut self,
        study: Option<&str>,
        worker: &str,
        lease_seconds: f64,
    ) -> Result<Option<Claim>, StoreError> {
        let t_now = now();
        let mut names: Vec<String> = self.studies.keys().cloned().collect();
        names.sort();
        for name in names {
            if study.is_some_and(|s| s != name) {
                continue;
            }
            let token = self.next_token + 1;
            let s = self.studies.get_mut(&name).expect("listed");
            let mut order: Vec<usize> = (0..s.trials.len()).collect();
            order.sort_by_key(|&i| s.trials[i].id);
            for i in order {
                let t = &mut s.trials[i];
                let expired = t.state == TrialState::Running
                    && s.tokens
                        .get(&t.id)
                        .is_some_and(|&(_, beat)| beat < t_now - lease_seconds);
                if t.state == TrialState::Pending || expired {
                    t.state = TrialState::Running;
                    t.attempts += 1;
                    t.worker = Some(worker.to_string());
                    s.tokens.insert(t.id, (token, t_now));
                    self.next_token = token;
                    self.workers
                        .entry(worker.to_string())
                        .or_insert((t_now, 0))
                        .0 = t_now;
                    return Ok(Some(Claim {
                        study: name.clone(),
                        id: t.id,
                        arch: t.arch.clone(),
                        fidelity: t.fidelity,
                        attempt: t.attempts,
                        token,
                    }));
                }
            }
        }
        Ok(None)
    }

    fn heartbeat(&mut self, claim: &Claim) -> Result<bool, StoreError> {
        let Some(s) = self.studies.get_mut(&claim.study) else {
            return Ok(false);
        };
        match s.tokens.get_mut(&claim.id) {
            Some((token, beat)) if *token == claim.token => {
                *beat = now();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn report(
        &mut self,
        claim: &Claim,
        result: Result<&Evaluation, &str>,
        seconds: f64,
        max_attempts: u32,
    ) -> Result<Reported, StoreError> {
        let Some(s) = self.studies.get_mut(&claim.study) else {
            return Ok(Reported::Stale);
        };
        if s.tokens.get(&claim.id).map(|t| t.0) != Some(claim.token) {
            return Ok(Reported::Stale);
        }
        let Some(&i) = s.by_id.get(&claim.id) else {
            return Ok(Reported::Stale);
        };
        if s.trials[i].state != TrialState::Running {
            return Ok(Reported::Stale);
        }
        s.tokens.remove(&claim.id);
        let t = &mut s.trials[i];
        t.seconds = seconds;
        let outcome = match result {
            Ok(e) => {
                t.state = TrialState::Complete;
                t.reward = Some(e.reward);
                t.metrics = cap_evaluation(e).metrics;
                t.error = None;
                Reported::Complete
            }
            Err(reason) => {
                t.error = Some(cap_text(reason));
                let outcome = Reported::after_failure(t.attempts, max_attempts);
                t.state = if outcome == Reported::Retry {
                    TrialState::Pending
                } else {
                    TrialState::Failed
                };
                outcome
            }
        };
        if let Some(w) = t.worker.clone() {
            let entry = self.workers.entry(w).or_insert((0.0, 0));
            entry.0 = now();
            entry.1 += 1;
        }
        Ok(outcome)
    }

    fn workers(&mut self) -> Result<Vec<(String, f64, u64)>, StoreError> {
        let mut all: Vec<_> = self
            .workers
            .iter()
            .map(|(n, (seen, count))| (n.clone(), *seen, *count))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(all)
    }

    fn studies(&mut self) -> Result<Vec<String>, StoreError> {
        let mut names: Vec<String> = self.studies.keys().cloned().collect();
        names.sort();
        Ok(names)
    }

    fn delete_study(&mut self, study: &str) -> Result<bool, StoreError> {
        if self.open.as_deref() == Some(study) {
            self.open = None;
        }
        self.controllers.remove(study);
        Ok(self.studies.remove(study).is_some())
    }

    fn acquire_controller(
        &mut self,
        study: &str,
        holder: &str,
        token: i64,
        lease_seconds: f64,
        take_over: bool,
    ) -> Result<Lead, StoreError> {
        let t_now = now();
        let previous = self
            .controllers
            .get(study)
            .filter(|(_, t, _)| *t != token)
            .map(|(h, t, expires)| ControllerLease {
                holder: h.clone(),
                token: *t,
                expires_in: expires - t_now,
            });
        if let Some(p) = &previous {
            if p.expires_in > 0.0 && !take_over {
                return Ok(Lead::Held(p.clone()));
            }
        }
        self.controllers.insert(
            study.to_string(),
            (holder.to_string(), token, t_now + lease_seconds),
        );
        Ok(Lead::Acquired { previous })
    }

    fn renew_controller(
        &mut self,
        study: &str,
        token: i64,
        lease_seconds: f64,
    ) -> Result<bool, StoreError> {
        match self.controllers.get_mut(study) {
            Some((_, t, expires)) if *t == token => {
                *expires = now() + lease_seconds;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn release_controller(&mut self, study: &str, token: i64) -> Result<(), StoreError> {
        if self.controllers.get(study).is_some_and(|c| c.1 == token) {
            self.controllers.remove(study);
        }
        Ok(())
    }

    fn controller(&mut self, study: &str) -> Result<Option<ControllerLease>, StoreError> {
        let t_now = now();
        Ok(self
            .controllers
            .get(study)
            .map(|(h, t, expires)| ControllerLease {
                holder: h.clone(),
                token: *t,
                expires_in: expires - t_now,
            }))
    }
}

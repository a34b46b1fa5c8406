//! The dashboard's state: one read-only store connection and the views of the studies, each
//! recomputed only when its trials change.

use crate::{DashboardError, Options};
use layernas_core::StoreError;
use layernas_store::{LiveState, StoreReader, StudyRecord};
use layernas_study::views::StudyView;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// How long a study's version, once checked, is trusted: requests arriving together (a page
/// asks for several parts at once) share one check, and a change still shows within 2 s.
const RECHECK: Duration = Duration::from_millis(300);

struct Cached {
    view: Arc<StudyView>,
    checked: Instant,
}

/// The dashboard's shared state.
pub struct App {
    url: String,
    reader: Mutex<Option<StoreReader>>,
    views: Mutex<HashMap<String, Cached>>,
    /// Builds one snapshot at a time, so that simultaneous requests do not read it twice.
    building: Mutex<()>,
    pub(crate) token: Option<String>,
    pub(crate) listening: OnceLock<SocketAddr>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl App {
    /// Opens the store read-only.
    pub fn open(options: &Options) -> Result<App, DashboardError> {
        let reader = StoreReader::open(&options.store)?;
        Ok(App {
            url: options.store.clone(),
            reader: Mutex::new(Some(reader)),
            views: Mutex::new(HashMap::new()),
            building: Mutex::new(()),
            token: options.token.clone(),
            listening: OnceLock::new(),
        })
    }

    pub(crate) fn set_listening(&self, addr: SocketAddr) {
        let _ = self.listening.set(addr);
    }

    /// Runs `f` on the store connection; a failed read drops the connection, so that the next
    /// request reconnects (a restarted PostgreSQL server, a dropped connection).
    fn read<T>(
        &self,
        f: impl FnOnce(&mut StoreReader) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = lock(&self.reader);
        if guard.is_none() {
            *guard = Some(StoreReader::open(&self.url)?);
        }
        let reader = guard.as_mut().expect("just opened");
        let result = f(reader);
        if result.is_err() {
            *guard = None;
        }
        result
    }

    /// Every study of the store.
    pub fn studies(&self) -> Result<Vec<StudyRecord>, StoreError> {
        self.read(|r| r.studies())
    }

    /// The live state of `study` (controller, leases, workers).
    pub fn live(&self, study: &str) -> Result<LiveState, StoreError> {
        self.read(|r| r.live(study))
    }

    /// The view of `study`, recomputed when its trials changed; `None` if there is no such
    /// study.
    pub fn view(&self, study: &str) -> Result<Option<Arc<StudyView>>, StoreError> {
        if let Some(c) = lock(&self.views).get(study) {
            if c.checked.elapsed() < RECHECK {
                return Ok(Some(c.view.clone()));
            }
        }
        let _building = lock(&self.building);
        let cached = lock(&self.views).get(study).map(|c| c.view.clone());
        let version = self.read(|r| r.version(study))?;
        let Some(version) = version else {
            lock(&self.views).remove(study);
            return Ok(None);
        };
        if let Some(view) = cached.filter(|v| v.version == version) {
            lock(&self.views).insert(
                study.to_string(),
                Cached {
                    view: view.clone(),
                    checked: Instant::now(),
                },
            );
            return Ok(Some(view));
        }
        let Some(snapshot) = self.read(|r| r.snapshot(study))? else {
            lock(&self.views).remove(study);
            return Ok(None);
        };
        let view = Arc::new(StudyView::build(snapshot));
        lock(&self.views).insert(
            study.to_string(),
            Cached {
                view: view.clone(),
                checked: Instant::now(),
            },
        );
        Ok(Some(view))
    }
}

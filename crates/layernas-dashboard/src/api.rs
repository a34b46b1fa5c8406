//! The routes: the pages (one embedded HTML shell; the script renders each page) and the JSON
//! API under `/api/`. Every handler reads; none writes.

use crate::{assets, guard, App};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use layernas_core::StoreError;
use layernas_core::{Trial, TrialState};
use layernas_study::views::{StudyView, TrialView};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::sync::Arc;

/// The routes of the dashboard.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(assets::page))
        .route("/study/{name}", get(assets::page))
        .route("/study/{name}/trial/{id}", get(assets::page))
        .route("/assets/{file}", get(assets::asset))
        .route("/api/studies", get(studies))
        .route("/api/studies/{name}", get(study))
        .route("/api/studies/{name}/front", get(front))
        .route("/api/studies/{name}/points", get(points))
        .route("/api/studies/{name}/trials", get(trials))
        .route("/api/studies/{name}/trials/{id}", get(trial))
        .route("/api/studies/{name}/failures", get(failures))
        .route("/api/studies/{name}/workers", get(workers))
        .route("/api/studies/{name}/export.csv", get(export_csv))
        .route("/api/studies/{name}/export.json", get(export_json))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            guard::guard,
        ))
        .with_state(app)
}

/// An API error: a status and a message, as `{"error": "..."}`.
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

async fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "no such page".into())
}

/// Runs a blocking store read off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

async fn view_of(app: &Arc<App>, name: String) -> Result<Arc<StudyView>, ApiError> {
    let app = app.clone();
    blocking(move || {
        app.view(&name)?.ok_or_else(|| {
            ApiError(
                StatusCode::NOT_FOUND,
                format!("no study {name:?} in the store"),
            )
        })
    })
    .await
}

/// The state a study is in: `finished` (its controller marked it), `running` (trials are being
/// evaluated) or `in progress`.
fn state_of(v: &StudyView) -> &'static str {
    if v.done {
        "finished"
    } else if v.counts.running > 0 {
        "running"
    } else {
        "in progress"
    }
}

/// A compact version string: changes whenever the study's trials change.
fn version_of(v: &StudyView) -> String {
    let s = &v.version;
    format!(
        "{}.{}.{}.{}.{}.{}.{}",
        s.trials, s.attempts, s.complete, s.failed, s.running, s.last_finished, s.done as u8
    )
}

#[derive(Serialize)]
struct StudySummary<'a> {
    study: &'a str,
    state: &'static str,
    version: String,
    done: bool,
    created_at: f64,
    last_activity: f64,
    info: &'a Option<layernas_study::views::StudyInfo>,
    note: &'a Option<String>,
    counts: &'a layernas_study::views::Counts,
    best: &'a Option<layernas_study::views::BestTrial>,
}

fn summary(v: &StudyView) -> StudySummary<'_> {
    StudySummary {
        study: &v.study,
        state: state_of(v),
        version: version_of(v),
        done: v.done,
        created_at: v.created_at,
        last_activity: v.last_activity,
        info: &v.info,
        note: &v.note,
        counts: &v.counts,
        best: &v.best,
    }
}

async fn studies(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    blocking(move || {
        let mut out = Vec::new();
        for s in app.studies()? {
            // A study deleted between the two reads is simply left out.
            if let Some(v) = app.view(&s.name)? {
                out.push(serde_json::to_value(summary(&v)).map_err(internal)?);
            }
        }
        Ok(Json(serde_json::json!({ "studies": out })).into_response())
    })
    .await
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn study(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let v = view_of(&app, name).await?;
    #[derive(Serialize)]
    struct Full<'a> {
        #[serde(flatten)]
        summary: StudySummary<'a>,
        config: &'a serde_json::Value,
        front: &'a [layernas_study::views::FrontPoint],
        layers: &'a [layernas_study::views::LayerProgress],
    }
    Ok(Json(Full {
        summary: summary(&v),
        config: &v.config,
        front: &v.front,
        layers: &v.layers,
    })
    .into_response())
}

async fn front(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let v = view_of(&app, name).await?;
    Ok(Json(&v.front).into_response())
}

/// Every completed trial as three columns (id, cost, reward): the scatter's data, compact.
async fn points(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let v = view_of(&app, name).await?;
    let complete = v.trials.iter().filter(|t| t.state == TrialState::Complete);
    let (mut id, mut cost, mut reward) = (Vec::new(), Vec::new(), Vec::new());
    for t in complete {
        id.push(t.id);
        cost.push(t.cost);
        reward.push(t.reward);
    }
    Ok(Json(serde_json::json!({
        "version": version_of(&v),
        "id": id,
        "cost": cost,
        "reward": reward,
    }))
    .into_response())
}

/// The query of the trials table.
#[derive(Debug, Deserialize)]
struct TrialsQuery {
    state: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

/// The most rows of one trials page.
const MAX_PER_PAGE: usize = 1000;

/// Sort keys of the trials table.
const SORTS: &[&str] = &[
    "id", "cost", "reward", "test", "state", "wave", "attempts", "seconds", "worker", "finished",
];

/// Missing values sort after present ones.
fn opt<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn compare(key: &str, v: &StudyView, i: usize, j: usize) -> Ordering {
    let (a, b): (&Trial, &Trial) = (&v.trials[i], &v.trials[j]);
    match key {
        "cost" => a.cost.total_cmp(&b.cost),
        "reward" => opt(a.reward, b.reward),
        "test" => opt(a.metrics.get("test"), b.metrics.get("test")),
        "state" => a.state.name().cmp(b.state.name()),
        "wave" => a.wave.cmp(&b.wave),
        "attempts" => a.attempts.cmp(&b.attempts),
        "seconds" => a.seconds.total_cmp(&b.seconds),
        "worker" => opt(a.worker.as_ref(), b.worker.as_ref()),
        "finished" => opt(v.times[i].finished_at, v.times[j].finished_at),
        _ => Ordering::Equal,
    }
}

async fn trials(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    Query(q): Query<TrialsQuery>,
) -> Result<Response, ApiError> {
    let state = q.state.unwrap_or_else(|| "all".into());
    if !["all", "pending", "running", "complete", "failed"].contains(&state.as_str()) {
        return Err(bad(format!(
            "state {state:?} is not one of all, pending, running, complete, failed"
        )));
    }
    let sort = q.sort.unwrap_or_else(|| "id".into());
    if !SORTS.contains(&sort.as_str()) {
        return Err(bad(format!(
            "sort {sort:?} is not one of {}",
            SORTS.join(", ")
        )));
    }
    let descending = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => return Err(bad(format!("order {o:?} is not asc or desc"))),
    };
    let per_page = q.per_page.unwrap_or(50);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(bad(format!(
            "per_page {per_page} is not in 1..={MAX_PER_PAGE}"
        )));
    }
    let page = q.page.unwrap_or(1);
    if page == 0 {
        return Err(bad("page counts from 1"));
    }
    let v = view_of(&app, name).await?;
    let version = version_of(&v);
    let body = tokio::task::spawn_blocking(move || {
        let mut rows: Vec<usize> = (0..v.trials.len())
            .filter(|&i| state == "all" || v.trials[i].state.name() == state)
            .collect();
        let total = rows.len();
        let key = |&i: &usize, &j: &usize| {
            let o = compare(&sort, &v, i, j);
            let o = if descending { o.reverse() } else { o };
            // Ties by id, ascending: a stable, total order for paging.
            o.then(v.trials[i].id.cmp(&v.trials[j].id))
        };
        let start = (page - 1).saturating_mul(per_page);
        if start < total {
            // Only the rows up to the end of the page need their order: O(n + k log k).
            let end = (start + per_page).min(total);
            if end < total {
                rows.select_nth_unstable_by(end - 1, key);
                rows.truncate(end);
            }
            rows.sort_unstable_by(key);
        }
        let page_rows: Vec<TrialView> = rows
            .into_iter()
            .skip(start)
            .take(per_page)
            .map(|i| v.row(i))
            .collect();
        serde_json::to_vec(&serde_json::json!({
            "version": version,
            "total": total,
            "page": page,
            "per_page": per_page,
            "pages": total.div_ceil(per_page).max(1),
            "trials": page_rows,
        }))
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn trial(
    State(app): State<Arc<App>>,
    Path((name, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| bad(format!("trial id {id:?} is not a number")))?;
    let v = view_of(&app, name).await?;
    let i = v.position(id).ok_or_else(|| {
        ApiError(
            StatusCode::NOT_FOUND,
            format!("no trial {id} in study {:?}", v.study),
        )
    })?;
    let t = v.row(i);
    let network = match v.network(id) {
        Some(Ok(layers)) => serde_json::to_value(layers).map_err(internal)?,
        Some(Err(e)) => serde_json::json!({ "error": e }),
        None => serde_json::Value::Null,
    };
    let on_front = v.front.iter().any(|p| p.id == id);
    let best = v.best.as_ref().is_some_and(|b| b.id == id);
    Ok(Json(serde_json::json!({
        "study": v.study,
        "info": v.info,
        "trial": t,
        "on_front": on_front,
        "best": best,
        "table_index": v.table_index(id),
        "network": network,
    }))
    .into_response())
}

async fn failures(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let v = view_of(&app, name).await?;
    // As `status` lists them: failed for good, or failed and waiting for a retry.
    let failed: Vec<TrialView> = (0..v.trials.len())
        .filter(|&i| {
            let t = &v.trials[i];
            t.state == TrialState::Failed || (t.error.is_some() && !t.state.is_final())
        })
        .map(|i| v.row(i))
        .collect();
    Ok(Json(failed).into_response())
}

async fn workers(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let live = {
        let app = app.clone();
        let name = name.clone();
        blocking(move || Ok(app.live(&name)?)).await?
    };
    let now = live.now;
    Ok(Json(serde_json::json!({
        "now": now,
        "controller": live.controller.map(|c| serde_json::json!({
            "holder": c.holder,
            "lease_expires_in": c.expires_in,
            "live": c.expires_in > 0.0,
        })),
        "running": live.running.iter().map(|r| serde_json::json!({
            "id": r.id,
            "key": r.arch,
            "worker": r.worker,
            "attempt": r.attempts,
            "leased": r.leased,
            "heartbeat_at": r.heartbeat_at,
            "seconds_since_heartbeat": r.heartbeat_at.map(|h| (now - h).max(0.0)),
        })).collect::<Vec<_>>(),
        "workers": live.workers.iter().map(|(w, seen, n)| serde_json::json!({
            "name": w,
            "last_seen": seen,
            "seconds_since_seen": (now - seen).max(0.0),
            "trials": n,
        })).collect::<Vec<_>>(),
    }))
    .into_response())
}

fn attachment(name: &str, ext: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("attachment; filename=\"{safe}-trials.{ext}\"")
}

/// Every trial as `layernas export --format json` writes it.
async fn export_json(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let v = view_of(&app, name).await?;
    let study = v.study.clone();
    let text = tokio::task::spawn_blocking(move || serde_json::to_string_pretty(&v.rows()))
        .await
        .map_err(internal)?
        .map_err(internal)?
        + "\n";
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_string()),
            (header::CONTENT_DISPOSITION, attachment(&study, "json")),
        ],
        text,
    )
        .into_response())
}

/// Every trial as `layernas export --format csv` writes it.
async fn export_csv(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let v = view_of(&app, name).await?;
    let study = v.study.clone();
    let text = tokio::task::spawn_blocking(move || csv_of(&v))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, attachment(&study, "csv")),
        ],
        text,
    )
        .into_response())
}

fn csv_of(v: &StudyView) -> Result<String, layernas_study::StudyError> {
    layernas_study::outcome::trials_csv(&v.rows())
}

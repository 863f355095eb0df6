//! The HTTP server: Prometheus metrics, health, the JSON query API and the
//! Grafana JSON-datasource endpoints, on actix-web in the same process.
//!
//! Owns the routes, the bearer-token check and the server's life; the
//! answers over the store are `store`'s, parameter checks `params`'s.
//! It runs inside the pipeline's actix system (with `--listen` on
//! `capture` and `analyze`; the supervisor stops it in the ordered
//! shutdown) or alone (`serve`). Its one worker thread never touches the
//! pipeline: `/metrics` reads atomics, and every store query runs on the
//! blocking pool through `web::block`, never on a request thread or an
//! actor's. It never writes to the store and never panics on a request.

pub mod config;
mod open_window;
mod params;
mod store;

use crate::flow::HEAVY_HITTERS_KIND;
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use crate::metrics::{Metrics, render_build_only};

pub use config::{ApiConfig, parse_listen_addr};
pub use open_window::{OpenWindowCopy, OpenWindowSource, OpenWindows};
pub use params::MAX_LIMIT;
pub use store::TaskInfo;

use params::{ApiError, Params, checked_range, parse_time};

/// Largest request body read (`POST /query`, `POST /search`).
const MAX_BODY_BYTES: usize = 64 << 10;
/// Most targets one `POST /query` may name.
const MAX_TARGETS: usize = 100;
/// How long a stopping server waits for requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything a server needs, resolved before the first packet.
pub struct ApiSpec {
    /// Bound already, so a busy port fails before anything is counted.
    pub listener: TcpListener,
    pub token: Option<String>,
    /// The run's live counters; `None` for `serve` (build info only).
    pub metrics: Option<Arc<Metrics>>,
    /// The files root the queries read; `None` when the run keeps none.
    pub store: Option<PathBuf>,
    /// The run's tasks; `None` for `serve`, which reads the root's manifest.
    pub tasks: Option<Vec<TaskInfo>>,
    /// The running pipeline's open windows, shown by `top` and `flow`;
    /// `None` for `serve`.
    pub open_windows: Option<OpenWindows>,
}

/// Binds `addr`, warning when it is reachable from other hosts without a token.
pub fn bind(addr: SocketAddr, token: Option<&str>) -> std::io::Result<TcpListener> {
    if !addr.ip().is_loopback() && token.is_none() {
        log::warn!(
            "the HTTP API listens on {addr}, reachable from other hosts, without a token; set --api-token or api.token"
        );
    }
    let listener = TcpListener::bind(addr)?;
    log::info!("HTTP API listening on http://{}", listener.local_addr()?);
    Ok(listener)
}

/// What every request handler shares.
struct ApiState {
    token: Option<String>,
    metrics: Option<Arc<Metrics>>,
    store: Option<PathBuf>,
    tasks: Option<Vec<TaskInfo>>,
    open_windows: Option<OpenWindows>,
}

/// Starts the server on the current actix system; the caller spawns or
/// awaits the returned `Server` and stops it through its handle.
pub fn start(spec: ApiSpec) -> std::io::Result<Server> {
    let state = web::Data::new(ApiState {
        token: spec.token,
        metrics: spec.metrics,
        store: spec.store,
        tasks: spec.tasks,
        open_windows: spec.open_windows,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(web::QueryConfig::default().error_handler(|error, _| {
                ApiError::BadRequest(format!("query string: {error}")).into()
            }))
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .wrap(from_fn(require_token))
            .route("/healthz", web::get().to(healthz))
            .route("/metrics", web::get().to(metrics))
            .route("/api/v1/tasks", web::get().to(tasks))
            .route("/api/v1/windows", web::get().to(windows))
            .route("/api/v1/top", web::get().to(top))
            .route("/api/v1/heavy-hitters", web::get().to(heavy_hitters))
            .route("/api/v1/flow", web::get().to(flow))
            .route("/search", web::post().to(search))
            .route("/query", web::post().to(query))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::NotFound("no such endpoint".to_string()))
            }))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
    .listen(spec.listener)?
    .run();
    Ok(server)
}

/// With a token set, every path but `/healthz` needs `Authorization: Bearer <token>`.
async fn require_token(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let expected = request
        .app_data::<web::Data<ApiState>>()
        .and_then(|state| state.token.clone());
    if let Some(expected) = expected
        && request.path() != "/healthz"
    {
        let given = request
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        if !given.is_some_and(|given| same_secret(given.as_bytes(), expected.as_bytes())) {
            return Err(ApiError::Unauthorized.into());
        }
    }
    next.call(request).await
}

/// Compares without stopping at the first difference, so the time taken
/// does not tell how much of a guess was right.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

async fn metrics(state: web::Data<ApiState>) -> HttpResponse {
    let text = match &state.metrics {
        Some(metrics) => metrics.render(),
        None => render_build_only(),
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text)
}

/// A JSON text as a 200 answer.
fn json_answer(text: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json; charset=utf-8")
        .body(text)
}

/// Runs `work` on the blocking pool with the store root; 404 without a store.
async fn with_store<T, F>(state: &ApiState, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(PathBuf) -> Result<T, ApiError> + Send + 'static,
{
    let Some(root) = state.store.clone() else {
        return Err(ApiError::NotFound(
            "this process keeps no file store (no files writer): there are no windows to query"
                .to_string(),
        ));
    };
    web::block(move || work(root))
        .await
        .map_err(|error| ApiError::Internal(format!("the query was cancelled: {error}")))?
}

/// The named task's open window in a running process; `None` for `serve`.
async fn open_window(state: &ApiState, task: &str) -> Option<open_window::TaskOpenWindow> {
    state.open_windows.as_ref()?.of_task(task).await
}

/// The tasks: the run's, or (for `serve`) the root's manifest's.
async fn task_list(state: &ApiState) -> Result<Vec<TaskInfo>, ApiError> {
    match &state.tasks {
        Some(tasks) => Ok(tasks.clone()),
        None => with_store(state, |root| store::manifest_tasks(&root)).await,
    }
}

/// The named task, or 404 listing the tasks there are.
async fn find_task(state: &ApiState, name: &str) -> Result<TaskInfo, ApiError> {
    let tasks = task_list(state).await?;
    tasks
        .iter()
        .find(|task| task.name == name)
        .cloned()
        .ok_or_else(|| {
            let names: Vec<&str> = tasks.iter().map(|task| task.name.as_str()).collect();
            ApiError::NotFound(format!(
                "task: no task {name:?}; tasks: {}",
                names.join(", ")
            ))
        })
}

async fn tasks(
    state: web::Data<ApiState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    Params::new(query.into_inner()).finish()?;
    Ok(json_answer(store::tasks_json(&task_list(&state).await?)))
}

async fn windows(
    state: web::Data<ApiState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let mut params = Params::new(query.into_inner());
    let (from, to) = params.range()?;
    let limit = params.limit(MAX_LIMIT)?;
    params.finish()?;
    let text = with_store(&state, move |root| {
        store::windows_json(&root, from, to, limit)
    })
    .await?;
    Ok(json_answer(text))
}

async fn top(
    state: web::Data<ApiState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    merged_top(&state, query.into_inner(), None).await
}

/// `top` restricted to heavy-hitter tasks: their estimated packets and bytes
/// merged over the range, by packets (or `sort`), at most `limit`.
async fn heavy_hitters(
    state: web::Data<ApiState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    merged_top(&state, query.into_inner(), Some(HEAVY_HITTERS_KIND)).await
}

/// A task's top keys over a range; with `kind`, the task must be of it (400).
async fn merged_top(
    state: &ApiState,
    query: HashMap<String, String>,
    kind: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let mut params = Params::new(query);
    let task = params.required("task")?;
    let range = params.range()?;
    let sort = params.sort()?;
    let limit = params.top_limit()?;
    params.finish()?;
    let info = find_task(state, &task).await?;
    if let Some(kind) = kind.filter(|&kind| info.kind != kind) {
        return Err(ApiError::BadRequest(format!(
            "task: {task:?} is of kind {}, not {kind}",
            info.kind
        )));
    }
    let open = open_window(state, &task).await;
    let text = with_store(state, move |root| {
        store::top_json(&root, &task, range, sort, limit, open.as_ref())
    })
    .await?;
    Ok(json_answer(text))
}

async fn flow(
    state: web::Data<ApiState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let mut params = Params::new(query.into_inner());
    let name = params.required("task")?;
    let range = params.range()?;
    let task = find_task(&state, &name).await?;
    let key = params.key(&name, task.schema)?;
    params.finish()?;
    let open = open_window(&state, &name).await;
    let text = with_store(&state, move |root| {
        store::flow_json(&root, &name, &key, range, open.as_ref())
    })
    .await?;
    Ok(json_answer(text))
}

/// The JSON body of a Grafana request; an empty body is an empty object.
fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|error| ApiError::BadRequest(format!("body: not JSON: {error}")))
}

/// Grafana's `POST /search`: the task names (those containing `target`, if given).
async fn search(state: web::Data<ApiState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let request = json_body(&body)?;
    let wanted = match request.get("target") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(_) => return Err(ApiError::BadRequest("target: not a string".to_string())),
    };
    let names: Vec<String> = task_list(&state)
        .await?
        .into_iter()
        .map(|task| task.name)
        .filter(|name| name.contains(&wanted))
        .collect();
    Ok(HttpResponse::Ok().json(names))
}

/// Grafana's `POST /query`: per target task, one point per window in
/// `range`: `[total packets, window start in ms]`.
async fn query(state: web::Data<ApiState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let request = json_body(&body)?;
    let (from, to) = grafana_range(&request)?;
    let targets = grafana_targets(&request)?;
    for target in &targets {
        find_task(&state, target).await?;
    }
    let series = with_store(&state, move |root| {
        targets
            .into_iter()
            .map(|target| {
                let points = store::packet_series(&root, &target, from, to)?;
                let datapoints: Vec<[u64; 2]> = points
                    .into_iter()
                    .map(|(start_ns, packets)| [packets, start_ns / 1_000_000])
                    .collect();
                Ok(json!({ "target": target, "datapoints": datapoints }))
            })
            .collect::<Result<Vec<Value>, ApiError>>()
    })
    .await?;
    Ok(HttpResponse::Ok().json(series))
}

/// `range.from` and `range.to`, each RFC 3339 or Unix seconds; open when absent.
fn grafana_range(request: &Value) -> Result<(u64, u64), ApiError> {
    let end = |name: &str| -> Result<Option<u64>, ApiError> {
        let key = format!("range.{name}");
        match request.get("range").and_then(|range| range.get(name)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => parse_time(&key, text).map(Some),
            Some(Value::Number(number)) => parse_time(&key, &number.to_string()).map(Some),
            Some(_) => Err(ApiError::BadRequest(format!("{key}: not a time"))),
        }
    };
    checked_range(end("from")?, end("to")?)
}

/// `targets[].target`, each a task name; at least one.
fn grafana_targets(request: &Value) -> Result<Vec<String>, ApiError> {
    let Some(Value::Array(targets)) = request.get("targets") else {
        return Err(ApiError::BadRequest(
            "targets: required, a list of {\"target\": TASK}".to_string(),
        ));
    };
    if targets.len() > MAX_TARGETS {
        return Err(ApiError::BadRequest(format!(
            "targets: at most {MAX_TARGETS}"
        )));
    }
    targets
        .iter()
        .enumerate()
        .map(|(index, target)| match target.get("target") {
            Some(Value::String(task)) => Ok(task.clone()),
            _ => Err(ApiError::BadRequest(format!(
                "targets[{index}].target: required, a task name"
            ))),
        })
        .collect()
}

//! The HTTP endpoints. Every answer is JSON; every problem with a request is a 4xx with
//! `{"error": "..."}`; a panic in a handler becomes a 500 for that request only.

use super::batch::Job;
use super::models::{Models, Served};
use super::request::{self, Instance};
use crate::forecast;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::oneshot;
use tower_http::catch_panic::CatchPanicLayer;

/// Bodies past this are refused with 413 before they are read whole.
pub const MAX_BODY_BYTES: usize = 1 << 20;

pub fn router(models: Arc<Models>) -> Router {
    guarded(
        Router::new()
            .route("/health", get(health))
            .route("/v1/models", get(list))
            .route("/v1/models/{name}/predict", post(predict))
            .with_state(models),
    )
}

/// JSON answers for unknown paths and methods, the body limit, and panics caught per request.
fn guarded(routes: Router) -> Router {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(panicked))
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, json_body(&json!({ "error": message.into() }))).into_response()
}

/// Serialises straight to bytes with the content type set (axum's `Json` does the same; this
/// keeps one path for success and error bodies).
fn json_body(v: &Value) -> impl IntoResponse + use<> {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(v).unwrap_or_default(),
    )
}

async fn health() -> Response {
    json_body(&json!({"status": "ok"})).into_response()
}

async fn list(State(models): State<Arc<Models>>) -> Response {
    let list: Vec<Value> = models.all().iter().map(|s| describe(s)).collect();
    json_body(&json!({ "models": list })).into_response()
}

fn describe(s: &Served) -> Value {
    let c = &s.forecaster.card;
    json!({
        "name": s.version.name,
        "version": s.version.version,
        "alias": s.reference.alias(),
        "run_id": s.version.run_id,
        "target": c.target,
        "features": c.features,
        "window": c.window,
        "horizon": c.horizon,
    })
}

async fn predict(
    State(models): State<Arc<Models>>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(served) = models.get(&name) else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no model named {name:?} is served (serving: {})",
                models.names().join(", ")
            ),
        );
    };
    let body = match body {
        Ok(b) => b,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            );
        }
        Err(e) => return error(e.status(), e.body_text()),
    };
    let parsed = match request::parse(&body, &served.forecaster.card) {
        Ok(p) => p,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    match answer(&served, &parsed.instances, &parsed.levels).await {
        Ok(mut answers) => {
            let model = json!({
                "name": served.version.name,
                "version": served.version.version,
                "run_id": served.version.run_id,
            });
            let body = if parsed.batch {
                json!({ "model": model, "predictions": answers })
            } else {
                let mut one = answers.pop().unwrap_or_default();
                one["model"] = model;
                one
            };
            json_body(&body).into_response()
        }
        Err((status, m)) => error(status, m),
    }
}

/// One `{"forecasts": […], "note"?}` per instance. Instances at the model's own horizon are
/// queued for the version's inference thread together (so they share forward passes with
/// each other and with concurrent requests); recursive ones step by step here.
async fn answer(
    served: &Served,
    instances: &[Instance],
    levels: &[u32],
) -> Result<Vec<Value>, (StatusCode, String)> {
    let fc = &served.forecaster;
    let f = fc.n_features();
    for inst in instances {
        fc.check(inst.inputs.len() / f, inst.steps, "rows")
            .map_err(|e| (StatusCode::BAD_REQUEST, e.message))?;
        fc.stats(&inst.series)
            .map_err(|e| (StatusCode::BAD_REQUEST, e.message))?;
        fc.check_levels(levels, &inst.series, "level")
            .map_err(|e| (StatusCode::BAD_REQUEST, e.message))?;
    }
    let internal = |m: String| (StatusCode::INTERNAL_SERVER_ERROR, m);
    let horizon = fc.card.horizon;
    // A direct head answers every step up to its horizon from one pass, so it is forecast
    // here; batching carries one value per window.
    let batched = |i: &Instance| i.steps == horizon && fc.card.outputs <= 1;
    let mut pending = Vec::new();
    for inst in instances.iter().filter(|i| batched(i)) {
        let (reply, answer) = oneshot::channel();
        let window = fc.last_window(&inst.inputs).to_vec();
        served
            .batcher
            .send(Job {
                window,
                series: inst.series.clone(),
                reply,
            })
            .map_err(|_| internal("the model's inference thread has stopped".into()))?;
        pending.push(answer);
    }
    let mut direct = Vec::with_capacity(pending.len());
    for answer in pending {
        let value = answer
            .await
            .map_err(|_| internal("the model's inference thread has stopped".into()))?
            .map_err(internal)?;
        direct.push(value);
    }
    let mut direct = direct.into_iter();
    instances
        .iter()
        .map(|inst| {
            let forecasts = if batched(inst) {
                vec![forecast::Forecast {
                    step: horizon,
                    value: direct.next().expect("one per direct instance"),
                }]
            } else {
                fc.forecast(&inst.inputs, inst.steps, &inst.series)
                    .map_err(|e| internal(format!("the forecast failed: {e:#}")))?
            };
            let (mut timed, note) = forecast::stamp(&forecasts, inst.times.as_deref());
            for t in &mut timed {
                t.bounds = forecast::Bounds(fc.bounds(&inst.series, t.step, t.value, levels));
            }
            let mut v = json!({ "forecasts": timed });
            if let Some(n) = note {
                v["note"] = json!(n);
            }
            Ok(v)
        })
        .collect()
}

async fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "no such endpoint (GET /health, GET /v1/models, POST /v1/models/{name}/predict)",
    )
}

async fn method_not_allowed() -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed (GET /health, GET /v1/models, POST /v1/models/{name}/predict)",
    )
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the server hit an internal error on this request; it keeps serving",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        write!(
            conn,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        conn.read_to_string(&mut answer).unwrap();
        answer
    }

    async fn boom() -> Response {
        panic!("a handler bug")
    }

    #[test]
    fn a_panicking_handler_answers_500_and_the_server_goes_on() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let app = guarded(
                Router::new()
                    .route("/boom", get(boom))
                    .route("/health", get(health)),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            let get = |path: &'static str| tokio::task::spawn_blocking(move || raw_get(addr, path));
            let boom = get("/boom").await.unwrap();
            assert!(boom.starts_with("HTTP/1.1 500"), "{boom}");
            assert!(boom.contains("{\"error\":"), "{boom}");
            let ok = get("/health").await.unwrap();
            assert!(
                ok.starts_with("HTTP/1.1 200") && ok.ends_with("{\"status\":\"ok\"}"),
                "{ok}"
            );
            let missing = get("/nowhere").await.unwrap();
            assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        });
    }
}

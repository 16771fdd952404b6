//! The routes: the embedded page, the state as JSON, the server-sent events, and the controls (POST, with the
//! per-run token in the `x-lab-token` header or the `token` query parameter; 403 without it).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::Stream;
use serde::Deserialize;

use super::Lab;
use super::autoscale::{MAX_THRESHOLD, threshold_bounds};
use super::controls::{self, Change, Control, Refused};
use super::faults::MAX_OUTAGE_S;

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/lab.js");
const STYLE: &str = include_str!("assets/lab.css");
const ERRORS: &str = include_str!("assets/lab-errors.js");
const UPLOT_JS: &str = include_str!("assets/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("assets/uPlot.min.css");
/// The most a control's body may be.
const BODY_LIMIT: usize = 4096;

pub fn router(lab: Arc<Lab>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/lab.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/lab-errors.js", get(|| async { asset("text/javascript; charset=utf-8", ERRORS) }))
        .route("/lab.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/uPlot.js", get(|| async { asset("text/javascript; charset=utf-8", UPLOT_JS) }))
        .route("/uPlot.css", get(|| async { asset("text/css; charset=utf-8", UPLOT_CSS) }))
        .route("/api/state", get(state))
        .route("/api/events", get(events))
        .route("/api/{control}", post(control))
        .route("/api/{control}/{action}", post(control_action))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(lab)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page loads nothing from elsewhere, and no other site may frame it.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            ),
        ],
        PAGE,
    )
        .into_response()
}

async fn state(State(lab): State<Arc<Lab>>) -> Response {
    let state = lab.observed.state.borrow().clone();
    axum::Json(state).into_response()
}

/// `state` events (about once a second) and `line` events (each thing that happened; the kept ones first).
async fn events(State(lab): State<Arc<Lab>>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let recent = lab.observed.recent();
    let states = lab.observed.state.subscribe();
    let lines = lab.observed.lines.subscribe();
    let first = futures::stream::iter(recent.into_iter().map(|l| Ok(json_event("line", &l))));
    let live = futures::stream::unfold((states, lines), |(mut states, mut lines)| async move {
        tokio::select! {
            changed = states.changed() => {
                changed.ok()?;
                let event = json_event("state", &*states.borrow_and_update());
                Some((Ok(event), (states, lines)))
            }
            line = lines.recv() => {
                let event = match line {
                    Ok(line) => json_event("line", &line),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        Event::default().event("line").data(format!("{{\"at_ms\":0,\"text\":\"({n} lines skipped)\"}}"))
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                };
                Some((Ok(event), (states, lines)))
            }
        }
    });
    // The lab stops: the stream ends, so that the server's graceful shutdown does not wait for an open page.
    let mut stopping = lab.stopping.clone();
    let live = futures::StreamExt::take_until(live, async move {
        let _ = stopping.wait_for(|s| *s).await;
    });
    Sse::new(futures::StreamExt::chain(first, live)).keep_alive(KeepAlive::new().interval(Duration::from_secs(10)))
}

fn json_event<T: serde::Serialize>(name: &str, value: &T) -> Event {
    Event::default().event(name).data(serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()))
}

/// One event of the stream as a reader gets it: its name (`state`, `line`) and its data, the `data:` lines joined by
/// line breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEvent {
    pub name: Option<String>,
    pub data: String,
}

/// Takes the whole events (each ended by a blank line) off the front of `buffer`, which holds what a reader of
/// `GET /api/events` received so far; what is left is the start of the next one. Keep-alive comments come out as
/// events with no name.
pub fn take_events(buffer: &mut String) -> Vec<StreamEvent> {
    let mut events = Vec::new();
    while let Some(end) = buffer.find("\n\n") {
        let event: String = buffer.drain(..end + 2).collect();
        let name = event.lines().find_map(|l| l.strip_prefix("event:")).map(|n| n.trim().to_owned());
        let data: Vec<&str> = event.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect();
        events.push(StreamEvent { name, data: data.join("\n") });
    }
    events
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The request carries this run's token.
fn authorised(lab: &Lab, headers: &HeaderMap, query: &TokenQuery) -> bool {
    let given = headers.get("x-lab-token").and_then(|v| v.to_str().ok()).or(query.token.as_deref());
    given.is_some_and(|g| same(g.as_bytes(), lab.token.as_bytes()))
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn refused(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message.into() }))).into_response()
}

async fn control(
    State(lab): State<Arc<Lab>>,
    Path(control): Path<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&lab, &headers, &query, &control, None, &body).await
}

async fn control_action(
    State(lab): State<Arc<Lab>>,
    Path((control, action)): Path<(String, String)>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(&lab, &headers, &query, &control, Some(&action), &body).await
}

async fn respond(
    lab: &Arc<Lab>,
    headers: &HeaderMap,
    query: &TokenQuery,
    control: &str,
    action: Option<&str>,
    body: &[u8],
) -> Response {
    if !authorised(lab, headers, query) {
        return refused(StatusCode::FORBIDDEN, "this control needs the token printed with the lab's URL");
    }
    let parsed = match parse(control, action, body) {
        Ok(c) => c,
        Err(r) => return refused(status(&r), r.message),
    };
    match controls::apply(lab, parsed).await {
        Ok(what) => (StatusCode::ACCEPTED, axum::Json(serde_json::json!({ "accepted": what }))).into_response(),
        Err(r) => refused(status(&r), r.message),
    }
}

fn status(r: &Refused) -> StatusCode {
    StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST)
}

/// The body of a control: `{"count": N}`, `{"client_id": "..."}`, `{"rate": R}`, `{"seconds": S}` or
/// `{"threshold": T}`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Body {
    count: Option<serde_json::Value>,
    client_id: Option<String>,
    rate: Option<serde_json::Value>,
    seconds: Option<serde_json::Value>,
    threshold: Option<serde_json::Value>,
}

/// `POST /api/consumers/{add,remove,set}`, `/api/members/{stop,kill}`, `/api/partitions`,
/// `/api/producer/{start,rate,stop}`, `/api/faults/{postgres,broker}`, `/api/autoscaler/{on,off}`.
fn parse(control: &str, action: Option<&str>, body: &[u8]) -> Result<Control, Refused> {
    let bad = |m: String| Refused { status: 400, message: m };
    let body: Body = if body.iter().all(u8::is_ascii_whitespace) {
        Body::default()
    } else {
        serde_json::from_slice(body).map_err(|e| bad(format!("the body is not the JSON this control takes: {e}")))?
    };
    let count = |what: &str| -> Result<i64, Refused> {
        let value = body.count.as_ref().ok_or_else(|| bad(format!("{what} needs {{\"count\": N}}")))?;
        value.as_i64().ok_or_else(|| bad(format!("count must be a whole number, got {value}")))
    };
    Ok(match (control, action) {
        ("consumers", Some("add")) => Control::Consumers(Change::Add),
        ("consumers", Some("remove")) => Control::Consumers(Change::Remove),
        ("consumers", Some("set")) => {
            let n = count("consumers/set")?;
            let n = usize::try_from(n).map_err(|_| bad(format!("a consumer count cannot be negative, got {n}")))?;
            Control::Consumers(Change::Set(n))
        }
        ("members", Some(verb @ ("stop" | "kill"))) => {
            let id = body
                .client_id
                .clone()
                .ok_or_else(|| bad(format!("members/{verb} needs {{\"client_id\": \"...\"}}")))?;
            if verb == "stop" { Control::Stop(id) } else { Control::Kill(id) }
        }
        ("partitions", None) => {
            let n = count("partitions")?;
            Control::Partitions(i32::try_from(n).map_err(|_| bad(format!("{n} is not a partition count")))?)
        }
        ("producer", Some("start" | "rate")) => {
            let value = body.rate.as_ref().ok_or_else(|| bad("the producer needs {\"rate\": R}".into()))?;
            Control::ProducerRate(value.as_f64().ok_or_else(|| bad(format!("rate must be a number, got {value}")))?)
        }
        ("producer", Some("stop")) => Control::ProducerStop,
        ("faults", Some("postgres")) => {
            let value = body.seconds.as_ref().ok_or_else(|| bad("faults/postgres needs {\"seconds\": N}".into()))?;
            let seconds = value.as_u64().filter(|s| (1..=MAX_OUTAGE_S).contains(s));
            Control::PostgresOutage(seconds.ok_or_else(|| bad(controls::outage_bounds(&value.to_string())))?)
        }
        ("faults", Some("broker")) => Control::BrokerRestart,
        ("autoscaler", Some("on")) => {
            let value = body.threshold.as_ref().ok_or_else(|| bad("autoscaler/on needs {\"threshold\": T}".into()))?;
            let threshold = value.as_u64().filter(|t| (1..=MAX_THRESHOLD).contains(t));
            Control::AutoscalerOn(threshold.ok_or_else(|| bad(threshold_bounds(&value.to_string())))?)
        }
        ("autoscaler", Some("off")) => Control::AutoscalerOff,
        _ => {
            let path = action.map_or_else(|| control.to_owned(), |a| format!("{control}/{a}"));
            return Err(Refused {
                status: 404,
                message: format!(
                    "no control /api/{path} (consumers/add, consumers/remove, consumers/set, members/stop, \
                     members/kill, partitions, producer/start, producer/rate, producer/stop, faults/postgres, \
                     faults/broker, autoscaler/on, autoscaler/off)"
                ),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_read_back_event_by_event() {
        let mut buffer =
            String::from("event: line\ndata: {\"text\":\"a\"}\n\n: keep-alive\n\nevent: state\ndata: {\"at");
        let events = take_events(&mut buffer);
        assert_eq!(
            events,
            [
                StreamEvent { name: Some("line".into()), data: r#"{"text":"a"}"#.into() },
                StreamEvent { name: None, data: String::new() },
            ]
        );
        assert_eq!(buffer, "event: state\ndata: {\"at", "the unfinished event stays");
        buffer.push_str("_ms\":1}\n\n");
        assert_eq!(take_events(&mut buffer)[0].data, r#"{"at_ms":1}"#);
        assert!(buffer.is_empty());
    }

    #[test]
    fn controls_parse_and_bad_inputs_say_why() {
        assert_eq!(parse("consumers", Some("add"), b""), Ok(Control::Consumers(Change::Add)));
        assert_eq!(parse("consumers", Some("set"), br#"{"count": 4}"#), Ok(Control::Consumers(Change::Set(4))));
        assert_eq!(parse("partitions", None, br#"{"count": 6}"#), Ok(Control::Partitions(6)));
        let e = parse("consumers", Some("set"), br#"{"count": -1}"#).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("cannot be negative"), "{}", e.message);
        let e = parse("consumers", Some("set"), br#"{"count": "3; rm -rf /"}"#).unwrap_err();
        assert!(e.message.contains("whole number"), "{}", e.message);
        let e = parse("consumers", Some("set"), br#"{"cuont": 3}"#).unwrap_err();
        assert!(e.message.contains("unknown field"), "{}", e.message);
        assert_eq!(parse("reboot", None, b"").unwrap_err().status, 404);
        assert_eq!(parse("faults", Some("postgres"), br#"{"seconds": 10}"#), Ok(Control::PostgresOutage(10)));
        assert_eq!(parse("faults", Some("broker"), b""), Ok(Control::BrokerRestart));
        for body in [&br#"{"seconds": 0}"#[..], br#"{"seconds": 1000}"#, br#"{"seconds": -3}"#, br#"{"seconds": 2.5}"#]
        {
            let e = parse("faults", Some("postgres"), body).unwrap_err();
            assert!(e.status == 400 && e.message.contains("from 1 to 120"), "{}", e.message);
        }
        assert!(parse("faults", Some("postgres"), b"").unwrap_err().message.contains("needs"));
        assert_eq!(parse("autoscaler", Some("on"), br#"{"threshold": 50}"#), Ok(Control::AutoscalerOn(50)));
        let e = parse("autoscaler", Some("on"), br#"{"threshold": -1}"#).unwrap_err();
        assert!(e.status == 400 && e.message.contains("lag threshold"), "{}", e.message);
        assert_eq!(parse("autoscaler", Some("off"), b""), Ok(Control::AutoscalerOff));
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }
}

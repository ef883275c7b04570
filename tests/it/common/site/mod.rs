//! A fixture web site in the test process (axum on port 0): pages with any bytes and content
//! type, ETags answered with 304, chosen status codes, slow answers, and a log of every hit.

pub mod fixtures;

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering::SeqCst},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};

/// How one path answers.
#[derive(Clone)]
struct Route {
    status: StatusCode,
    body: Vec<u8>,
    content_type: String,
    etag: String,
    delay: Duration,
}

/// One request the site answered.
#[derive(Debug, Clone)]
pub struct Hit {
    pub path: String,
    pub status: u16,
    pub if_none_match: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Default)]
struct Inner {
    routes: Mutex<HashMap<String, Route>>,
    hits: Mutex<Vec<Hit>>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// A running fixture site.
pub struct Site {
    pub base: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Site {
    /// Starts an empty site on 127.0.0.1, port 0.
    pub async fn start() -> Self {
        let inner = Arc::new(Inner::default());
        let app = Router::new().fallback(serve).with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, inner, task }
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Serves `body` at `path` with `content_type`; its ETag follows its bytes.
    pub fn page(&self, path: &str, content_type: &str, body: impl Into<Vec<u8>>) {
        let body = body.into();
        let etag = {
            use sha2::{Digest, Sha256};
            format!("\"{}\"", hex_prefix(&Sha256::digest(&body)))
        };
        let mut routes = self.inner.routes.lock().unwrap();
        let delay = routes.get(path).map(|r| r.delay).unwrap_or_default();
        routes.insert(
            path.to_owned(),
            Route {
                status: StatusCode::OK,
                body,
                content_type: content_type.to_owned(),
                etag,
                delay,
            },
        );
    }

    /// Serves `html` (UTF-8) at `path`.
    pub fn html(&self, path: &str, html: &str) {
        self.page(path, "text/html; charset=utf-8", html.as_bytes().to_vec());
    }

    /// Makes `path` answer `status` from now on.
    pub fn fail(&self, path: &str, status: u16) {
        let mut routes = self.inner.routes.lock().unwrap();
        let route = routes.entry(path.to_owned()).or_insert_with(|| Route {
            status: StatusCode::OK,
            body: Vec::new(),
            content_type: "text/plain".into(),
            etag: "\"x\"".into(),
            delay: Duration::ZERO,
        });
        route.status = StatusCode::from_u16(status).unwrap();
    }

    /// Makes `path` wait `delay` before answering.
    pub fn slow(&self, path: &str, delay: Duration) {
        if let Some(r) = self.inner.routes.lock().unwrap().get_mut(path) {
            r.delay = delay;
        }
    }

    /// Every hit on `path` so far.
    pub fn hits(&self, path: &str) -> Vec<Hit> {
        let hits = self.inner.hits.lock().unwrap();
        hits.iter().filter(|h| h.path == path).cloned().collect()
    }

    /// Number of requests so far, all paths.
    pub fn hit_count(&self) -> usize {
        self.inner.hits.lock().unwrap().len()
    }

    /// The most requests ever answered at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.inner.max_in_flight.load(SeqCst)
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Counts a request in flight until it is answered or its client gives up.
struct InFlight(Arc<Inner>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, SeqCst);
    }
}

async fn serve(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let now = inner.in_flight.fetch_add(1, SeqCst) + 1;
    inner.max_in_flight.fetch_max(now, SeqCst);
    let _in_flight = InFlight(inner.clone());
    let path = req.uri().path().to_owned();
    let route = inner.routes.lock().unwrap().get(&path).cloned();
    let if_none_match = header_text(req.headers(), header::IF_NONE_MATCH);
    let user_agent = header_text(req.headers(), header::USER_AGENT);
    if let Some(r) = &route
        && !r.delay.is_zero()
    {
        tokio::time::sleep(r.delay).await;
    }
    let resp = match route {
        None => (StatusCode::NOT_FOUND, "no such page").into_response(),
        Some(r) if r.status != StatusCode::OK => (r.status, "fixture failure").into_response(),
        Some(r) if if_none_match.as_deref() == Some(r.etag.as_str()) => {
            (StatusCode::NOT_MODIFIED, [(header::ETAG, r.etag)]).into_response()
        }
        Some(r) => (
            [
                (header::CONTENT_TYPE, r.content_type),
                (header::ETAG, r.etag),
            ],
            r.body,
        )
            .into_response(),
    };
    inner.hits.lock().unwrap().push(Hit {
        path,
        status: resp.status().as_u16(),
        if_none_match,
        user_agent,
    });
    resp
}

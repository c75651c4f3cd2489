//! Servers on 127.0.0.1 for the tests: a recording HTTP server (standing for Twilio, FCM
//! and webhook receivers), a listener that never answers, and a listener that never answers.
//! The SMTP server is `herald_testkit::smtp`.

use std::collections::HashMap;
use std::net::TcpListener as StdTcpListener;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use tokio::task::JoinHandle;

/// One request as the HTTP server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// When the server had read the whole request.
    pub(crate) at: Instant,
    /// The status the server answered.
    pub(crate) status: StatusCode,
}

impl Request {
    /// A header's value as text (empty when missing).
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|value| value.to_str().unwrap()).unwrap_or_default()
    }

    /// The body as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The body as `application/x-www-form-urlencoded` fields.
    pub(crate) fn form(&self) -> HashMap<String, String> {
        form_fields(&self.body)
    }
}

/// How the server answers a request: a status and a JSON body.
type Answer = dyn Fn(&Request) -> (StatusCode, String) + Send + Sync;

struct Shared {
    answer: Box<Answer>,
    requests: Mutex<Vec<Request>>,
}

/// An HTTP server that records every request and answers as told.
pub(crate) struct HttpServer {
    /// `http://127.0.0.1:<port>`.
    pub(crate) url: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl HttpServer {
    /// Starts a server on a free port; `answer` decides each response.
    pub(crate) async fn start(
        answer: impl Fn(&Request) -> (StatusCode, String) + Send + Sync + 'static,
    ) -> HttpServer {
        let shared =
            Arc::new(Shared { answer: Box::new(answer), requests: Mutex::new(Vec::new()) });
        let app = Router::new().fallback(record).with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        HttpServer { url, shared, task }
    }

    /// Starts a server that answers every request with `status` and `body`.
    pub(crate) async fn answering(status: u16, body: &'static str) -> HttpServer {
        let status = StatusCode::from_u16(status).unwrap();
        HttpServer::start(move |_| (status, body.to_owned())).await
    }

    /// The requests so far, in arrival order.
    pub(crate) fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Records a request, then answers it.
async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let at = Instant::now();
    let mut request =
        Request { method, path: uri.path().to_owned(), headers, body, at, status: StatusCode::OK };
    let (status, answer) = (shared.answer)(&request);
    request.status = status;
    shared.requests.lock().unwrap().push(request);
    (status, [(header::CONTENT_TYPE, "application/json")], answer).into_response()
}

/// A listener that accepts connections and never answers, for timeouts.
pub(crate) struct SilentServer {
    /// `http://127.0.0.1:<port>`.
    pub(crate) url: String,
    task: JoinHandle<()>,
}

impl SilentServer {
    /// Starts the listener on a free port.
    pub(crate) async fn start() -> SilentServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((connection, _)) = listener.accept().await {
                held.push(connection);
            }
        });
        SilentServer { url, task }
    }
}

impl Drop for SilentServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A port on 127.0.0.1 that was free a moment ago (nothing listens on it now).
pub(crate) fn free_port() -> u16 {
    StdTcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Parses `application/x-www-form-urlencoded` text.
fn form_fields(body: &[u8]) -> HashMap<String, String> {
    let decode = |text: &str| {
        let spaced = text.replace('+', " ");
        percent_encoding::percent_decode_str(&spaced).decode_utf8().unwrap().into_owned()
    };
    std::str::from_utf8(body)
        .unwrap()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
        .collect()
}

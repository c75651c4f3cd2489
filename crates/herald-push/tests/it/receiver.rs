//! A webhook receiver on 127.0.0.1 for the tests: it records every request and answers
//! by path.

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use tokio::sync::mpsc;

/// One request as the receiver saw it.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) path: String,
    /// The client's address: the same for requests over one reused connection.
    pub(crate) peer: SocketAddr,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A running receiver.
pub(crate) struct Receiver {
    /// `http://127.0.0.1:<port>`.
    pub(crate) base_url: String,
    requests: mpsc::UnboundedReceiver<Received>,
}

impl Receiver {
    /// Starts a receiver on a free port. It answers:
    /// `/ok` 204, `/unavailable` 503, `/slow-down` 429 with `Retry-After: 30`,
    /// `/refuse` 400 with a JSON body, `/moved` 308, and never answers `/hang`.
    pub(crate) async fn start() -> Receiver {
        let (sender, requests) = mpsc::unbounded_channel();
        let record = move |path: &'static str| {
            let sender = sender.clone();
            move |ConnectInfo(peer): ConnectInfo<SocketAddr>, headers: HeaderMap, body: Bytes| {
                let _ = sender.send(Received { path: path.to_owned(), peer, headers, body });
                async move { answer(path).await }
            }
        };
        let app = Router::new()
            .route("/ok", post(record("/ok")))
            .route("/unavailable", post(record("/unavailable")))
            .route("/slow-down", post(record("/slow-down")))
            .route("/refuse", post(record("/refuse")))
            .route("/moved", post(record("/moved")))
            .route("/hang", post(record("/hang")));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, service).await });
        Receiver { base_url, requests }
    }

    /// The URL of a path on this receiver.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The next request; every request is recorded before it is answered.
    pub(crate) async fn next(&mut self) -> Received {
        self.requests.recv().await.expect("the receiver is running")
    }
}

async fn answer(path: &str) -> axum::response::Response {
    match path {
        "/ok" => StatusCode::NO_CONTENT.into_response(),
        "/unavailable" => (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response(),
        "/slow-down" => (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "30")], "slow down")
            .into_response(),
        "/refuse" => (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"error":"unknown event type"}"#,
        )
            .into_response(),
        "/moved" => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, "/ok")]).into_response(),
        _ => std::future::pending().await,
    }
}

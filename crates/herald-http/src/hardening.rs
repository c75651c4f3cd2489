//! What every Herald HTTP server puts around its API: the hosts it answers to, limits on
//! time, concurrency and body size, and the security headers of its answers.
//!
//! - **Host and Origin.** A server on loopback answers only to `localhost`, `127.0.0.1`
//!   and `[::1]` (plus the hosts the operator allows), so a web page cannot reach it by
//!   DNS rebinding (its requests carry the page's host name). A request that changes state
//!   and carries an `Origin` must come from an allowed host too. A server on another
//!   address answers to any host unless hosts are listed.
//! - **Limits.** Each request has a deadline (`408` after it), the server runs at most so
//!   many requests at once (`503` with `Retry-After` beyond, shedding load instead of
//!   queueing it), and a body is at most so many bytes unless a route sets its own limit
//!   (`413`).
//! - **Headers.** `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, and a
//!   `Content-Security-Policy` that lets a page run only the server's own script and
//!   style and be framed by nobody.
//!
//! ```
//! use std::net::SocketAddr;
//! use axum::routing::get;
//! use herald_http::hardening::{AllowedHosts, Limits, harden};
//!
//! let listen: SocketAddr = "127.0.0.1:8080".parse().unwrap();
//! let app: axum::Router = axum::Router::new().fallback(get(|| async { "ok" }));
//! let app = harden(app, &Limits::default(), AllowedHosts::for_listener(listen, &[]));
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header, uri::Authority};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

/// The default deadline of a request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The default number of requests served at once.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 512;
/// The default largest body, for routes without a limit of their own.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// What `Content-Security-Policy` allows: the server's own script, style and images.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Limits on each request and on the requests served at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A request not answered within this time gets `408 Request Timeout` (and its
    /// handler is dropped, which rolls back an open transaction).
    pub request_timeout: Duration,
    /// Beyond this many requests at once, `503` with `Retry-After: 1`.
    pub max_concurrent_requests: usize,
    /// The largest body of a route that sets no limit of its own.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// The host names a server answers to (`None`: any).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHosts(Option<Vec<String>>);

/// The names of this machine's loopback interface.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

impl AllowedHosts {
    /// Any host (for a server behind a proxy that checks hosts itself).
    pub fn any() -> AllowedHosts {
        AllowedHosts(None)
    }

    /// The hosts a server listening on `listen` answers to: on loopback, the loopback
    /// names and `extra`; elsewhere, `extra` and the loopback names if `extra` is not
    /// empty, else any host. Names are compared without their port, case-insensitively.
    pub fn for_listener(listen: SocketAddr, extra: &[String]) -> AllowedHosts {
        if extra.is_empty() && !listen.ip().is_loopback() {
            return AllowedHosts::any();
        }
        let mut names: Vec<String> = LOOPBACK_NAMES.iter().map(|name| (*name).to_owned()).collect();
        names.extend(extra.iter().map(|name| name.trim().to_ascii_lowercase()));
        if !listen.ip().is_unspecified() {
            names.push(host_of(&listen.to_string()).unwrap_or_default());
        }
        AllowedHosts(Some(names))
    }

    /// Whether `host` (a `Host` header: a name, an address, with or without a port) is
    /// one of them.
    pub fn allows(&self, host: &str) -> bool {
        match &self.0 {
            None => true,
            Some(names) => host_of(host).is_some_and(|host| names.contains(&host)),
        }
    }
}

/// The host of an authority, lower case, without its port (`[::1]` keeps its brackets).
fn host_of(authority: &str) -> Option<String> {
    let authority: Authority = authority.parse().ok()?;
    Some(authority.host().to_ascii_lowercase())
}

/// `router` with the host check, the limits and the security headers around every route.
pub fn harden(router: Router, limits: &Limits, hosts: AllowedHosts) -> Router {
    let hosts = Arc::new(hosts);
    let permits = Arc::new(Semaphore::new(limits.max_concurrent_requests));
    router
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, limits.request_timeout))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let permits = Arc::clone(&permits);
            async move { shed_beyond_capacity(&permits, request, next).await }
        }))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let hosts = Arc::clone(&hosts);
            async move { check_host(&hosts, request, next).await }
        }))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(header::REFERRER_POLICY, "no-referrer"))
        .layer(header_layer(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
}

fn header_layer(
    name: header::HeaderName,
    value: &'static str,
) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

async fn shed_beyond_capacity(permits: &Semaphore, request: Request, next: Next) -> Response {
    let Ok(_permit) = permits.try_acquire() else {
        let mut response = refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "the server is at its limit of requests at once; retry in a second",
        );
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    };
    next.run(request).await
}

async fn check_host(hosts: &AllowedHosts, request: Request, next: Next) -> Response {
    if let Some(problem) = host_problem(hosts, request.method(), request.headers()) {
        return refusal(StatusCode::FORBIDDEN, Some(problem.0), &problem.1);
    }
    next.run(request).await
}

/// Which header is not allowed, and why.
fn host_problem(
    hosts: &AllowedHosts,
    method: &Method,
    headers: &HeaderMap,
) -> Option<(&'static str, String)> {
    let text = |name| headers.get(name).map(|value: &HeaderValue| value.to_str().unwrap_or("?"));
    let host = text(header::HOST).unwrap_or_default();
    if !hosts.allows(host) {
        return Some((
            "host",
            format!(
                "this server does not answer to the host `{}`; its operator can allow it (--allowed-host)",
                printable(host)
            ),
        ));
    }
    let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let origin = text(header::ORIGIN).filter(|origin| *origin != "null");
    let origin_host =
        origin.map(|origin| origin.split_once("://").map_or(origin, |(_, rest)| rest));
    match origin_host {
        Some(origin_host) if changes && !hosts.allows(origin_host) => Some((
            "origin",
            format!("a page from `{}` may not change state here", printable(origin_host)),
        )),
        _ => None,
    }
}

/// At most 100 visible characters of a header, for an error message.
fn printable(value: &str) -> String {
    value.chars().filter(|c| c.is_ascii_graphic()).take(100).collect()
}

fn refusal(status: StatusCode, field: Option<&str>, message: &str) -> Response {
    let body = match field {
        Some(field) => serde_json::json!({ "error": message, "field": field }),
        None => serde_json::json!({ "error": message }),
    };
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    fn loopback() -> AllowedHosts {
        AllowedHosts::for_listener("127.0.0.1:8080".parse().unwrap(), &[])
    }

    #[test]
    fn loopback_servers_answer_to_loopback_names_only() {
        let hosts = loopback();
        for host in ["localhost:8080", "127.0.0.1:8080", "LOCALHOST", "[::1]:8080", "127.0.0.1"] {
            assert!(hosts.allows(host), "{host}");
        }
        for host in ["evil.example:8080", "", "127.0.0.1.evil.example", "localhost.", "a b"] {
            assert!(!hosts.allows(host), "{host}");
        }
        let extra = AllowedHosts::for_listener(
            "127.0.0.1:8080".parse().unwrap(),
            &["Herald.Internal".to_owned()],
        );
        assert!(extra.allows("herald.internal:443"));
        let public = AllowedHosts::for_listener("0.0.0.0:8080".parse().unwrap(), &[]);
        assert!(public.allows("anything.example"));
        let listed = AllowedHosts::for_listener("0.0.0.0:8080".parse().unwrap(), &["h".into()]);
        assert!(listed.allows("h:1") && !listed.allows("anything.example"));
    }

    async fn answer(app: &Router, method: Method, headers: &[(&str, &str)]) -> Response {
        let mut request = axum::http::Request::builder().method(method).uri("/");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap()
    }

    fn app() -> Router {
        let routes = Router::new().fallback(get(|| async { "read" }).post(|| async { "changed" }));
        harden(routes, &Limits::default(), loopback())
    }

    #[tokio::test]
    async fn dns_rebinding_and_foreign_pages_are_refused() {
        let app = app();
        let ok = answer(&app, Method::GET, &[("host", "localhost:8080")]).await;
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(ok.headers()[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
        let rebound = answer(&app, Method::GET, &[("host", "attacker.example:8080")]).await;
        assert_eq!(rebound.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(rebound.into_body(), 1024).await.unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains("attacker.example:8080") && body.contains(r#""field":"host""#));
        let cross_site = [("host", "127.0.0.1:8080"), ("origin", "https://attacker.example")];
        assert_eq!(answer(&app, Method::POST, &cross_site).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(answer(&app, Method::GET, &cross_site).await.status(), StatusCode::OK);
        let same_site = [("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")];
        assert_eq!(answer(&app, Method::POST, &same_site).await.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn requests_beyond_capacity_are_shed_with_retry_after() {
        let limits = Limits { max_concurrent_requests: 1, ..Limits::default() };
        let (entered, mut inside) = tokio::sync::mpsc::channel::<()>(1);
        let release = Arc::new(tokio::sync::Notify::new());
        let held = Arc::clone(&release);
        let slow = get(move || {
            let (entered, held) = (entered.clone(), Arc::clone(&held));
            async move {
                entered.send(()).await.unwrap();
                held.notified().await;
                "slow"
            }
        });
        let app = harden(Router::new().fallback(slow), &limits, AllowedHosts::any());
        let first = tokio::spawn({
            let app = app.clone();
            async move { answer(&app, Method::GET, &[]).await.status() }
        });
        inside.recv().await.unwrap();
        let shed = answer(&app, Method::GET, &[]).await;
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(shed.headers()[header::RETRY_AFTER], "1");
        release.notify_one();
        assert_eq!(first.await.unwrap(), StatusCode::OK);
    }
}

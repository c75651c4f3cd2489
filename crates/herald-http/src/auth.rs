//! Who may change state through Herald's HTTP APIs, and the one tower layer that checks
//! it.
//!
//! Every API builds its state-changing routes in a router of their own and puts
//! [`RequireCredentials`] in front of them with `route_layer`, so a handler never checks
//! credentials itself and a new route is protected by being listed with the others:
//!
//! ```
//! use axum::Router;
//! use axum::http::StatusCode;
//! use axum::response::{IntoResponse, Response};
//! use axum::routing::{get, post};
//! use herald_http::Credentials;
//!
//! fn unauthorized() -> Response {
//!     (StatusCode::UNAUTHORIZED, "send Authorization: Bearer <token>").into_response()
//! }
//!
//! let credentials = Credentials::bearer("s3cret");
//! let reads = Router::new().route("/things", get(|| async { "[]" }));
//! let changes = Router::new()
//!     .route("/things", post(|| async { StatusCode::CREATED }))
//!     .route_layer(credentials.require(unauthorized));
//! let app: Router = reads.merge(changes);
//! ```
//!
//! Both forms Confluent's clients send are accepted: `Authorization: Bearer <token>` and
//! HTTP Basic. The scheme name is case-insensitive (RFC 9110). What is presented is
//! compared with what is configured through SHA-256 digests in constant time, so the
//! comparison takes the same time whatever the presented value and its length.

use std::convert::Infallible;
use std::fmt;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::future::Either;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower::{Layer, Service};

/// Who may change state: a Bearer token, an HTTP Basic user and password, or both.
///
/// With neither configured nothing that needs credentials is allowed. `Debug` shows the
/// Basic user name, never a token or a password.
#[derive(Clone, Default)]
pub struct Credentials {
    /// A Bearer token.
    pub token: Option<String>,
    /// A user and password for HTTP Basic.
    pub basic: Option<(String, String)>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("basic_user", &self.basic.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl Credentials {
    /// Credentials that are one Bearer token.
    pub fn bearer(token: impl Into<String>) -> Credentials {
        Credentials { token: Some(token.into()), basic: None }
    }

    /// The layer that answers `reject()` to every request without these credentials and
    /// passes the others on.
    pub fn require(
        &self,
        reject: impl Fn() -> Response + Send + Sync + 'static,
    ) -> RequireCredentials {
        RequireCredentials { expected: Arc::new(self.digests()), reject: Arc::new(reject) }
    }

    fn digests(&self) -> Expected {
        let basic = self.basic.as_ref().map(|(user, password)| {
            digest(STANDARD.encode(format!("{user}:{password}")).as_bytes())
        });
        Expected { bearer: self.token.as_deref().map(|token| digest(token.as_bytes())), basic }
    }
}

/// The digests of what a request must present.
struct Expected {
    bearer: Option<[u8; 32]>,
    basic: Option<[u8; 32]>,
}

impl Expected {
    fn admit(&self, headers: &HeaderMap) -> bool {
        let Some((scheme, value)) = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
        else {
            return false;
        };
        let expected = if scheme.eq_ignore_ascii_case("bearer") {
            self.bearer
        } else if scheme.eq_ignore_ascii_case("basic") {
            self.basic
        } else {
            None
        };
        expected
            .is_some_and(|expected| bool::from(digest(value.trim().as_bytes()).ct_eq(&expected)))
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The tower layer in front of the routes that change state: a request without the
/// [`Credentials`] gets the API's own refusal and never reaches the handler (nor has its
/// body read).
#[derive(Clone)]
pub struct RequireCredentials {
    expected: Arc<Expected>,
    reject: Arc<dyn Fn() -> Response + Send + Sync>,
}

impl fmt::Debug for RequireCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequireCredentials(<redacted>)")
    }
}

impl<S> Layer<S> for RequireCredentials {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded { inner, guard: self.clone() }
    }
}

/// A service behind [`RequireCredentials`].
#[derive(Clone, Debug)]
pub struct Guarded<S> {
    inner: S,
    guard: RequireCredentials,
}

impl<S> Service<Request> for Guarded<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Ready<Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if self.guard.expected.admit(request.headers()) {
            Either::Left(self.inner.call(request))
        } else {
            Either::Right(ready(Ok((self.guard.reject)())))
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{HeaderValue, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::{get, post};
    use tower::ServiceExt as _;

    use super::*;

    fn unauthorized() -> Response {
        (StatusCode::UNAUTHORIZED, "no").into_response()
    }

    fn app(credentials: &Credentials) -> Router {
        let reads = Router::new().route("/things", get(|| async { "read" }));
        let changes = Router::new()
            .route("/things", post(|| async { "changed" }))
            .route_layer(credentials.require(unauthorized));
        reads.merge(changes)
    }

    async fn status(app: &Router, method: &str, authorization: Option<&str>) -> StatusCode {
        let mut request = Request::builder().method(method).uri("/things");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
        response.status()
    }

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(authorization).unwrap());
        headers
    }

    #[tokio::test]
    async fn only_the_guarded_routes_need_credentials() {
        let app = app(&Credentials::bearer("s3cret"));
        assert_eq!(status(&app, "GET", None).await, StatusCode::OK);
        assert_eq!(status(&app, "POST", None).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status(&app, "POST", Some("Bearer wrong")).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status(&app, "POST", Some("Bearer s3cret")).await, StatusCode::OK);
        assert_eq!(status(&app, "POST", Some("bearer s3cret")).await, StatusCode::OK);
    }

    #[test]
    fn bearer_and_basic_are_both_accepted_when_configured() {
        let credentials = Credentials {
            token: Some("t0ken".into()),
            basic: Some(("registry".into(), "pa ss".into())),
        };
        let basic = format!("Basic {}", STANDARD.encode("registry:pa ss"));
        assert!(credentials.digests().admit(&headers(&basic)));
        assert!(credentials.digests().admit(&headers("Bearer t0ken")));
        assert!(
            !credentials
                .digests()
                .admit(&headers(&format!("Basic {}", STANDARD.encode("registry:x"))))
        );
        assert!(!credentials.digests().admit(&headers("Bearer t0ke")));
        assert!(!credentials.digests().admit(&headers("Digest t0ken")));
        assert!(!credentials.digests().admit(&HeaderMap::new()));
    }

    #[test]
    fn nothing_is_admitted_without_configured_credentials() {
        let none = Credentials::default();
        assert!(!none.digests().admit(&headers("Bearer ")));
        assert!(!none.digests().admit(&headers("Basic ")));
        let bearer_only = Credentials::bearer("t0ken");
        assert!(!bearer_only.digests().admit(&headers(&format!("Basic {}", STANDARD.encode(":")))));
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let credentials =
            Credentials { token: Some("t0ken".into()), basic: Some(("user".into(), "pw".into())) };
        let shown = format!("{credentials:?} {:?}", credentials.require(unauthorized));
        assert!(!shown.contains("t0ken") && !shown.contains("pw"), "{shown}");
        assert!(shown.contains("user"), "{shown}");
    }
}

//! Who may change state through Herald's HTTP APIs, and the one tower layer that checks
//! it.
//!
//! Every API declares its routes through [`crate::Api`], which puts
//! [`RequireCredentials`] in front of each by the [`Access`] it needs, so a handler never
//! checks credentials itself and a new route is protected by being declared:
//!
//! ```
//! use axum::http::StatusCode;
//! use axum::response::{IntoResponse, Response};
//! use axum::routing::{get, post};
//! use herald_http::{Api, Credentials};
//!
//! fn unauthorized() -> Response {
//!     (StatusCode::UNAUTHORIZED, "send Authorization: Bearer <token>").into_response()
//! }
//!
//! let credentials = Credentials::bearer("s3cret");
//! let app: axum::Router = Api::new(&credentials, unauthorized)
//!     .open("/health", get(|| async { "ok" }))
//!     .write("/things", post(|| async { StatusCode::CREATED }))
//!     .into_router();
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

/// Who may read and change state: Bearer tokens, an HTTP Basic user and password, or both.
///
/// `tokens` may do everything; `read_tokens` may only read (the routes an API lists with
/// [`crate::Api::read`]). Several tokens of a kind are valid at once, which is how a token
/// is rotated without downtime: configure the old and the new, move the clients, then drop
/// the old. With nothing configured nothing that needs credentials is allowed. `Debug`
/// shows the Basic user name, never a token or a password.
#[derive(Clone, Default)]
pub struct Credentials {
    /// Bearer tokens with full access.
    pub tokens: Vec<String>,
    /// Bearer tokens that may only read.
    pub read_tokens: Vec<String>,
    /// A user and password for HTTP Basic, with full access.
    pub basic: Option<(String, String)>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("tokens", &self.tokens.len())
            .field("read_tokens", &self.read_tokens.len())
            .field("basic_user", &self.basic.as_ref().map(|(user, _)| user))
            .finish()
    }
}

/// What a route needs of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Anyone: probes, metrics, static assets, public schemas.
    Open,
    /// A read-only token or better: reads that return payloads, contacts or secrets' metadata.
    Read,
    /// A full token or HTTP Basic: every change of state.
    Write,
}

impl Credentials {
    /// Credentials that are one Bearer token with full access.
    pub fn bearer(token: impl Into<String>) -> Credentials {
        Credentials { tokens: vec![token.into()], ..Credentials::default() }
    }

    /// Credentials with one optional full token and one optional HTTP Basic user.
    pub fn token_or_basic(token: Option<String>, basic: Option<(String, String)>) -> Credentials {
        Credentials { tokens: token.into_iter().collect(), read_tokens: Vec::new(), basic }
    }

    /// Whether no credential at all is configured.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty() && self.read_tokens.is_empty() && self.basic.is_none()
    }

    /// The layer that answers `reject()` to every request without full credentials and
    /// passes the others on.
    pub fn require(
        &self,
        reject: impl Fn() -> Response + Send + Sync + 'static,
    ) -> RequireCredentials {
        RequireCredentials {
            expected: Arc::new(self.digests(Access::Write)),
            reject: Arc::new(reject),
        }
    }

    /// The layer for routes of the given [`Access`]; `None` for [`Access::Open`], whose
    /// routes need no layer.
    pub fn require_access(
        &self,
        access: Access,
        reject: impl Fn() -> Response + Send + Sync + 'static,
    ) -> Option<RequireCredentials> {
        (access != Access::Open).then(|| RequireCredentials {
            expected: Arc::new(self.digests(access)),
            reject: Arc::new(reject),
        })
    }

    fn digests(&self, access: Access) -> Expected {
        let basic = self.basic.as_ref().map(|(user, password)| {
            digest(STANDARD.encode(format!("{user}:{password}")).as_bytes())
        });
        let readers = if access == Access::Write { &[][..] } else { &self.read_tokens[..] };
        let bearer =
            self.tokens.iter().chain(readers).map(|token| digest(token.as_bytes())).collect();
        Expected { bearer, basic }
    }
}

/// The digests of what a request may present.
struct Expected {
    bearer: Vec<[u8; 32]>,
    basic: Option<[u8; 32]>,
}

impl Expected {
    /// Compares with every configured digest, without stopping at the first match, so the
    /// time taken says nothing about which token (if any) matched.
    fn admit(&self, headers: &HeaderMap) -> bool {
        let Some((scheme, value)) = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split_once(' '))
        else {
            return false;
        };
        let expected: &[[u8; 32]] = if scheme.eq_ignore_ascii_case("bearer") {
            &self.bearer
        } else if scheme.eq_ignore_ascii_case("basic") {
            self.basic.as_slice()
        } else {
            &[]
        };
        let presented = digest(value.trim().as_bytes());
        let matched = expected
            .iter()
            .fold(subtle::Choice::from(0), |found, expected| found | presented.ct_eq(expected));
        bool::from(matched)
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

    #[allow(clippy::disallowed_methods)] // tests the layer underneath Api
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
        let credentials = Credentials::token_or_basic(
            Some("t0ken".into()),
            Some(("registry".into(), "pa ss".into())),
        );
        let basic = format!("Basic {}", STANDARD.encode("registry:pa ss"));
        assert!(credentials.digests(Access::Write).admit(&headers(&basic)));
        assert!(credentials.digests(Access::Write).admit(&headers("Bearer t0ken")));
        assert!(
            !credentials
                .digests(Access::Write)
                .admit(&headers(&format!("Basic {}", STANDARD.encode("registry:x"))))
        );
        assert!(!credentials.digests(Access::Write).admit(&headers("Bearer t0ke")));
        assert!(!credentials.digests(Access::Write).admit(&headers("Digest t0ken")));
        assert!(!credentials.digests(Access::Write).admit(&HeaderMap::new()));
    }

    #[test]
    fn nothing_is_admitted_without_configured_credentials() {
        let none = Credentials::default();
        assert!(!none.digests(Access::Read).admit(&headers("Bearer ")));
        assert!(!none.digests(Access::Read).admit(&headers("Basic ")));
        let bearer_only = Credentials::bearer("t0ken");
        assert!(
            !bearer_only
                .digests(Access::Read)
                .admit(&headers(&format!("Basic {}", STANDARD.encode(":"))))
        );
    }

    #[test]
    fn during_a_rotation_both_tokens_are_valid_and_read_tokens_only_read() {
        let credentials = Credentials {
            tokens: vec!["old-token".into(), "new-token".into()],
            read_tokens: vec!["reader".into()],
            basic: None,
        };
        let write = credentials.digests(Access::Write);
        let read = credentials.digests(Access::Read);
        assert!(write.admit(&headers("Bearer old-token")));
        assert!(write.admit(&headers("Bearer new-token")));
        assert!(!write.admit(&headers("Bearer reader")), "a read token changed state");
        assert!(read.admit(&headers("Bearer reader")));
        assert!(read.admit(&headers("Bearer new-token")));
        assert!(!read.admit(&headers("Bearer other")));
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let credentials =
            Credentials::token_or_basic(Some("t0ken".into()), Some(("user".into(), "pw".into())));
        let shown = format!("{credentials:?} {:?}", credentials.require(unauthorized));
        assert!(!shown.contains("t0ken") && !shown.contains("pw"), "{shown}");
        assert!(shown.contains("user"), "{shown}");
    }
}

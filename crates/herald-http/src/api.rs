//! An HTTP API as a list of routes, each with the [`Access`] it needs.
//!
//! Every Herald API builds its router through [`Api`]: [`Api::open`], [`Api::read`] and
//! [`Api::write`] put the one credentials layer ([`crate::RequireCredentials`]) in front of
//! each route by its access, and record the route. [`Api::routes`] lists them, so a test
//! can send every route a request without credentials and see each refused: a new route is
//! guarded and tested by being declared. (`clippy.toml` forbids `Router::route` outside
//! this module.)
//!
//! ```
//! use axum::http::StatusCode;
//! use axum::response::IntoResponse;
//! use axum::routing::{get, post};
//! use herald_http::{Access, Api, Credentials};
//!
//! let credentials = Credentials::bearer("s3cret");
//! let api: Api = Api::new(&credentials, || StatusCode::UNAUTHORIZED.into_response())
//!     .open("/health", get(|| async { "ok" }))
//!     .read("/things", get(|| async { "[]" }))
//!     .write("/things", post(|| async { StatusCode::CREATED }));
//! assert_eq!(api.routes()[2].access, Access::Write);
//! let app: axum::Router = api.into_router();
//! ```

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::response::Response;
use axum::routing::MethodRouter;

use crate::{Access, Credentials};

/// A route as declared: its path (with `{param}`s, and the prefixes it was nested under)
/// and what it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The path, for example `/registry/subjects/{subject}`.
    pub path: String,
    /// What a request needs to reach the handler.
    pub access: Access,
}

type Reject = Arc<dyn Fn() -> Response + Send + Sync>;

/// A router whose every route was declared with its [`Access`].
pub struct Api<S = ()> {
    router: Router<S>,
    routes: Vec<Route>,
    credentials: Credentials,
    reject: Reject,
}

impl<S> fmt::Debug for Api<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api").field("routes", &self.routes).finish_non_exhaustive()
    }
}

impl<S: Clone + Send + Sync + 'static> Api<S> {
    /// An API without routes yet, whose guarded routes answer `reject()` to a request
    /// without the credentials they need.
    pub fn new(
        credentials: &Credentials,
        reject: impl Fn() -> Response + Send + Sync + 'static,
    ) -> Self {
        Api {
            router: Router::new(),
            routes: Vec::new(),
            credentials: credentials.clone(),
            reject: Arc::new(reject),
        }
    }

    /// A route anyone may call.
    pub fn open(self, path: &str, methods: MethodRouter<S>) -> Self {
        self.route(path, Access::Open, methods)
    }

    /// A route that needs a read token (or a full one).
    pub fn read(self, path: &str, methods: MethodRouter<S>) -> Self {
        self.route(path, Access::Read, methods)
    }

    /// A route that needs a full token or the Basic user.
    pub fn write(self, path: &str, methods: MethodRouter<S>) -> Self {
        self.route(path, Access::Write, methods)
    }

    #[allow(clippy::disallowed_methods)] // the one place routes are added
    fn route(mut self, path: &str, access: Access, methods: MethodRouter<S>) -> Self {
        let reject = Arc::clone(&self.reject);
        let mut declared = Router::new().route(path, methods);
        if let Some(guard) = self.credentials.require_access(access, move || reject()) {
            declared = declared.route_layer(guard);
        }
        self.router = self.router.merge(declared);
        self.routes.push(Route { path: path.to_owned(), access });
        self
    }

    /// Gives the API its state, as [`Router::with_state`].
    pub fn with_state<S2>(self, state: S) -> Api<S2> {
        Api {
            router: self.router.with_state(state),
            routes: self.routes,
            credentials: self.credentials,
            reject: self.reject,
        }
    }

    /// Adds the routes of `other` (which keep their own guards).
    pub fn merge(mut self, other: Api<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.routes.extend(other.routes);
        self
    }

    /// Serves `other` under `prefix` (which keeps its own guards).
    pub fn nest(mut self, prefix: &str, other: Api<S>) -> Self {
        self.router = self.router.nest(prefix, other.router);
        self.routes.extend(
            other
                .routes
                .into_iter()
                .map(|route| Route { path: prefix.to_owned() + &route.path, ..route }),
        );
        self
    }

    /// Changes the router underneath, for layers (metrics, limits) that wrap every route.
    pub fn map_router(mut self, wrap: impl FnOnce(Router<S>) -> Router<S>) -> Self {
        self.router = wrap(self.router);
        self
    }

    /// Every route declared, in declaration order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// The router, to serve.
    pub fn into_router(self) -> Router<S> {
        self.router
    }
}

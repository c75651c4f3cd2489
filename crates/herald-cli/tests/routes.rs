//! Every route `herald up` serves, tried without credentials, with a wrong token and with a
//! read-only token. The routes come from the API itself (`herald_cli::up::api(..).routes()`),
//! so a route added later is tried too: a state-changing route must refuse each request
//! that lacks a full token, a route that shows payloads or contacts must refuse each
//! request without a token, and an open route must not change anything (GET only).

use herald_admin::AdminConfig;
use herald_http::{Access, Credentials, Route};
use herald_testkit::TestDb;
use reqwest::{Method, StatusCode};

const TOKEN: &str = "full-token-0123456789abcdef";
const READ_TOKEN: &str = "read-token-0123456789abcdef";

/// Every method a client might try, safe and unsafe.
const METHODS: [Method; 6] =
    [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

/// A concrete path for a declared one: `{id}`s become a UUID, other parameters a name.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map_or(rest.len(), |end| start + end + 1);
        let name = &rest[start + 1..end - 1];
        out.push_str(if name.contains("id") {
            "0190f5e8-7c2a-7d4e-9b1a-2f8c3d4e5f60"
        } else {
            "x"
        });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

struct Served {
    base: String,
    routes: Vec<Route>,
    http: reqwest::Client,
}

impl Served {
    async fn start(db: &TestDb) -> Served {
        let credentials = Credentials {
            tokens: vec![TOKEN.into()],
            read_tokens: vec![READ_TOKEN.into()],
            basic: None,
        };
        let admin = AdminConfig {
            db: db.db.clone(),
            credentials: credentials.clone(),
            publisher: None,
            relay: None,
            embedded_log: None,
            transport: "embedded log".into(),
            prometheus: None,
            max_replays: 3,
        };
        let ingest = herald_cli::up::ingest(&db.db, &credentials, "http://127.0.0.1/registry", 16)
            .expect("ingest");
        let api = herald_cli::up::api(&db.db, &credentials, admin, Default::default(), ingest)
            .expect("the API");
        let routes = api.routes().to_vec();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let app = api.into_router();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Served { base, routes, http: reqwest::Client::new() }
    }

    async fn status(&self, method: &Method, path: &str, token: Option<&str>) -> StatusCode {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body("{}");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}")).status()
    }
}

/// The access each method of each path was declared with.
fn declared(routes: &[Route]) -> Vec<(String, Access)> {
    routes.iter().map(|route| (route.path.clone(), route.access)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_what_its_access_does_not_allow() {
    let db = TestDb::sqlite("routes_access").await;
    let served = Served::start(&db).await;
    let declared = declared(&served.routes);
    for (path, access) in [
        ("/registry/subjects/{subject}/versions", Access::Write),
        ("/events", Access::Write),
        ("/registry/subjects/{subject}", Access::Read),
        ("/registry/compatibility/subjects/{subject}/versions/{version}", Access::Read),
        ("/api/dlq/{id}", Access::Read),
        ("/api/dlq/replay", Access::Write),
        ("/api/notifications", Access::Read),
        ("/api/recipients/{id}", Access::Read),
        ("/api/subscriptions", Access::Write),
        ("/healthz", Access::Open),
    ] {
        assert!(
            declared.contains(&(path.to_owned(), access)),
            "{path} is not declared as {access:?}: {:#?}",
            served.routes
        );
    }

    for route in &served.routes {
        let mut refused = false;
        let mut admitted_reader = false;
        let path = concrete(&route.path);
        // Methods the same path serves with an access of its own (GET read, POST write).
        let siblings: Vec<Access> =
            served.routes.iter().filter(|r| r.path == route.path).map(|r| r.access).collect();
        for method in &METHODS {
            let anonymous = served.status(method, &path, None).await;
            let wrong = served.status(method, &path, Some("wrong-token-0123456789abc")).await;
            let reader = served.status(method, &path, Some(READ_TOKEN)).await;
            let safe = matches!(*method, Method::GET | Method::HEAD);
            match route.access {
                Access::Write | Access::Read => {
                    for (who, status) in [("no token", anonymous), ("a wrong token", wrong)] {
                        assert!(
                            matches!(
                                status,
                                StatusCode::UNAUTHORIZED | StatusCode::METHOD_NOT_ALLOWED
                            ) || siblings.contains(&Access::Open) && safe,
                            "{method} {path} ({:?}) with {who}: {status}",
                            route.access
                        );
                    }
                    refused |= anonymous == StatusCode::UNAUTHORIZED;
                }
                Access::Open => {
                    assert!(
                        safe || matches!(
                            anonymous,
                            StatusCode::UNAUTHORIZED | StatusCode::METHOD_NOT_ALLOWED
                        ),
                        "{method} {path} is open yet answers {anonymous} to an unsafe method"
                    );
                }
            }
            let open_sibling = safe && siblings.contains(&Access::Open);
            if route.access == Access::Write && !siblings.contains(&Access::Read) && !open_sibling {
                assert!(
                    matches!(reader, StatusCode::UNAUTHORIZED | StatusCode::METHOD_NOT_ALLOWED),
                    "{method} {path} is for full tokens, yet a read token got {reader}"
                );
            }
            if route.access == Access::Read {
                let refused =
                    matches!(reader, StatusCode::UNAUTHORIZED | StatusCode::METHOD_NOT_ALLOWED);
                admitted_reader |= !refused;
            }
        }
        assert!(
            admitted_reader || route.access != Access::Read,
            "{} is for readers, yet no method admitted the read token",
            route.path
        );
        assert!(
            refused || route.access == Access::Open,
            "{} ({:?}) never refused a request without a token",
            route.path,
            route.access
        );
    }
    db.cleanup().await;
}

#[test]
fn parameters_become_concrete_values() {
    assert_eq!(
        concrete("/api/dlq/{id}/x/{subject}"),
        "/api/dlq/0190f5e8-7c2a-7d4e-9b1a-2f8c3d4e5f60/x/x"
    );
    assert_eq!(concrete("/healthz"), "/healthz");
}

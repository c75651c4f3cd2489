//! The web dashboard: three static files compiled into the binary, so that a user needs
//! no JavaScript toolchain and the server no asset directory.

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use herald_http::{Api, Credentials};

const INDEX: &str = include_str!("../assets/index.html");
const APP: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/style.css");

/// `/`, `/assets/app.js` and `/assets/style.css`, open to anyone: they hold no data.
pub(crate) fn routes(credentials: &Credentials) -> Api {
    let unreachable = || StatusCode::UNAUTHORIZED.into_response();
    Api::new(credentials, unreachable)
        .open("/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .open("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP) }))
        .open("/assets/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}

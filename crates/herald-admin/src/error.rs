//! [`AdminError`]: what the admin API answers when a request fails.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A failed admin request. Rendered as `{"error": "…"}` with the matching status; a
/// database failure is logged and answered without its details.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The change needs the API token.
    #[error("this change needs the API token: Authorization: Bearer <token>")]
    Unauthorized,
    /// A request parameter is invalid.
    #[error("`{field}`: {reason}")]
    Invalid {
        /// The parameter.
        field: &'static str,
        /// What was wrong and what is expected.
        reason: String,
    },
    /// Nothing has this id.
    #[error("no {what} `{id}`")]
    NotFound {
        /// What was looked for.
        what: &'static str,
        /// The id given.
        id: String,
    },
    /// The feature needs something this server runs without (e.g. a transport).
    #[error("{0}")]
    Unavailable(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
}

impl AdminError {
    fn status(&self) -> StatusCode {
        match self {
            AdminError::Unauthorized => StatusCode::UNAUTHORIZED,
            AdminError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AdminError::NotFound { .. } => StatusCode::NOT_FOUND,
            AdminError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Database(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Wraps any database-side failure.
    pub(crate) fn database(error: impl std::fmt::Display) -> AdminError {
        AdminError::Database(error.to_string())
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if let AdminError::Database(detail) = &self {
            tracing::warn!(error = %detail, "An admin request failed.");
            "internal error; see the server's log".to_owned()
        } else {
            self.to_string()
        };
        let body = axum::Json(serde_json::json!({ "error": message }));
        if status == StatusCode::UNAUTHORIZED {
            return (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response();
        }
        (status, body).into_response()
    }
}

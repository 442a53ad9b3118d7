//! Every way a board request fails, and the page (or status) it answers
//! with. Messages say what to do; they are escaped like every other string.

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use maud::html;

/// A failed board request.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// A page asked for without a session: go and sign in.
    #[error("sign in first")]
    SignInFirst,
    /// An action (or stream) without a live session.
    #[error("your session has ended (signed out, expired, or its key was revoked); sign in again")]
    SessionEnded,
    #[error("the request has no valid CSRF token; reload the page and try again")]
    Csrf,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Internal(String),
}

impl WebError {
    fn status(&self) -> StatusCode {
        match self {
            WebError::SignInFirst => StatusCode::SEE_OTHER,
            WebError::SessionEnded => StatusCode::UNAUTHORIZED,
            WebError::Csrf | WebError::Forbidden(_) => StatusCode::FORBIDDEN,
            WebError::NotFound(_) => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if matches!(self, WebError::SignInFirst) {
            return (StatusCode::SEE_OTHER, [(header::LOCATION, "/signin")]).into_response();
        }
        if let WebError::Internal(message) = &self {
            tracing::error!(error = %message, "web board request failed");
        }
        let status = self.status();
        let page = html! {
            (maud::DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (status.as_u16()) " · vibe-kanban" }
                    link rel="stylesheet" href=(super::assets::CSS_URL.as_str());
                }
                body {
                    main class="narrow" {
                        h1 { (status.canonical_reason().unwrap_or("Error")) }
                        p class="error" role="alert" { (self.to_string()) }
                        p { a href="/" { "Back to the projects" } }
                    }
                }
            }
        };
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page.into_string(),
        )
            .into_response()
    }
}

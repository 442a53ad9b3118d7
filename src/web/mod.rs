//! The web board: server-rendered HTML (maud) with one small hand-written
//! script and one stylesheet, served by the same binary and port as `/mcp`.
//! Every page and action runs as the signed-in [`Principal`] through the
//! tool layer ([`KanbanServer::run_tool`]), so scopes, workspace scoping
//! and audit rows are exactly those of the MCP tools.
//!
//! - `state` — what the handlers share ([`Web`]); `signin` — the
//!   server-side sessions behind the cookie, one-time links, the CSRF
//!   token; `account` — the sign-in, link and sign-out pages.
//! - `calls` — the tool layer, typed for pages.
//! - `pages` — the HTML of every view; `render` turns markdown, ANSI logs
//!   and diffs into safe HTML.
//! - `actions` — every POST (create, edit, move, sessions, approvals);
//!   `session_actions` — the session buttons (merge, pull request), which
//!   buttons apply, and the notice an action leaves for its page.
//! - `live` — the board's version poller (one per project, fanned out);
//!   `streams` — the event streams of boards and session logs.
//! - `assets` — the embedded script and stylesheet, with ETags.
//! - `avatars` — members' faces (avatar or initials) and the account page
//!   that uploads one's own avatar.
//! - `comments` — a task page's comments (add, edit, delete) and activity.
//!
//! The outer edge (Host/Origin checks, request id) is the HTTP router's;
//! this module adds the security headers of every page
//! ([`security_headers`]).

use std::sync::Arc;

use axum::{
    Router,
    extract::Request,
    http::{HeaderValue, header},
    middleware::{self, Next},
    response::Response,
    routing::{get, post},
};

mod account;
mod actions;
mod assets;
mod avatars;
mod calls;
mod comments;
mod error;
mod faces;
mod layout;
mod live;
mod notices;
mod pages;
mod render;
mod session_actions;
mod signin;
mod state;
mod streams;

pub use error::WebError;
pub use signin::{LOGIN_LINK_TTL, write_login_link};
pub use state::{StreamGuard, Web, WebOptions};

/// The board's routes, for the HTTP router to merge.
pub fn routes(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/signin", get(account::form).post(account::submit))
        .route("/signout", post(account::sign_out))
        .route("/login", get(account::link))
        .route("/p/{project_id}", get(pages::board))
        .route("/p/{project_id}/columns", get(pages::columns))
        .route("/p/{project_id}/events", get(streams::board_events))
        .route("/p/{project_id}/tasks", post(actions::create_task))
        .route("/t/{task_id}", get(pages::task).post(actions::edit_task))
        .route("/t/{task_id}/move", post(actions::move_task))
        .route("/t/{task_id}/subtasks", post(actions::create_subtask))
        .route("/t/{task_id}/sessions", post(actions::start_session))
        .route("/s/{session_id}", get(pages::session))
        .route("/s/{session_id}/log", get(pages::log_page))
        .route("/s/{session_id}/events", get(streams::log_events))
        .route("/s/{session_id}/stop", post(actions::stop_session))
        .route("/s/{session_id}/follow-up", post(actions::follow_up))
        .route("/s/{session_id}/merge", post(session_actions::merge))
        .route(
            "/s/{session_id}/pull-request",
            post(session_actions::pull_request),
        )
        .route("/approvals/{approval_id}", post(actions::respond))
        .route("/assets/{name}", get(assets::serve))
        .route("/account", get(avatars::account))
        .route("/account/avatar", post(avatars::upload))
        .route("/u/{user_id}/avatar", get(avatars::serve))
        .route("/t/{task_id}/comments", post(comments::add))
        .route("/t/{task_id}/discussion", get(comments::fragment))
        .route("/c/{comment_id}", post(comments::edit))
        .route("/c/{comment_id}/delete", post(comments::delete))
        .layer(middleware::from_fn(security_headers))
        // Pages, fragments, log pages and assets go out gzipped to a browser
        // that accepts it (a 500-task board is ~160 KB of HTML, ~20 KB
        // gzipped); event streams and images are left as they are.
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(web)
}

/// The Content-Security-Policy of every board response: scripts and styles
/// only from this origin (no inline script, no `style` attributes), no
/// framing, forms and fetches only to this origin.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Security headers on every board response. Pages are never cached (they
/// show one principal's data); assets set their own caching.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    // Sign-in links carry a token in the URL: never send it to other
    // sites. (Not `no-referrer`: with it, Chromium sends `Origin: null` on
    // form posts, which the Origin check refuses.)
    set(headers, header::REFERRER_POLICY, "same-origin");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

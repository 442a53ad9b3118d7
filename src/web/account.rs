//! The sign-in pages: the form (a pasted key or JWT), the one-time link,
//! sign-out. Sessions themselves are `signin`'s.

use std::sync::Arc;

use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{
    error::WebError,
    layout,
    signin::{COOKIE, Credential, LINK_DIR, Signed, check_csrf, cookie, session_cookie},
    state::Web,
};
use crate::{
    auth::{self, AuthError, hash_key},
    store::Backend,
};

#[derive(Deserialize)]
pub struct SignInForm {
    token: String,
}

/// `GET /signin`: the form (or the projects, when already signed in).
pub async fn form(State(web): State<Arc<Web>>, headers: HeaderMap) -> Result<Response, WebError> {
    if web.signin.signed(&headers).await?.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    Ok(Html(layout::sign_in_page(None).into_string()).into_response())
}

/// `POST /signin`: checks the pasted key or JWT and opens a session. (No
/// CSRF token exists yet: the edge's Origin check refuses other sites.)
pub async fn submit(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, WebError> {
    let token = form.token.trim().to_owned();
    let refused = |message: String| {
        (
            StatusCode::UNAUTHORIZED,
            Html(layout::sign_in_page(Some(&message)).into_string()),
        )
            .into_response()
    };
    if token.is_empty() {
        return Ok(refused(
            "paste an API key (vk_…) or a member's JWT".to_owned(),
        ));
    }
    let principal = match web.signin.authenticator.authenticate(&token).await {
        Ok(principal) => principal,
        Err(AuthError::Store(error)) => {
            return Err(WebError::Internal(format!(
                "could not check the key: {error}"
            )));
        }
        Err(error) => return Ok(refused(error.to_string())),
    };
    tracing::info!(workspace = %principal.workspace_name, identity = %principal.identity(), "signed in to the web board");
    let (id, max_age) = web.signin.open(Credential::Token(token), &principal)?;
    Ok(signed_in(&headers, &id, max_age))
}

fn signed_in(headers: &HeaderMap, id: &str, max_age: i64) -> Response {
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session_cookie(headers, id, max_age)),
            (header::LOCATION, "/".to_owned()),
        ],
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf", default)]
    csrf: String,
}

/// `POST /signout`: ends the session on the server and clears the cookie.
pub async fn sign_out(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    check_csrf(&signed, &headers, Some(&form.csrf))?;
    if let Some(id) = cookie(&headers, COOKIE) {
        web.signin.close(&id);
    }
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, session_cookie(&headers, "", 0)),
            (header::LOCATION, "/signin".to_owned()),
        ],
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    token: String,
}

/// `GET /login?token=…`: a one-time link from `web login`.
pub async fn link(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Query(query): Query<LinkQuery>,
) -> Result<Response, WebError> {
    let refused = || {
        WebError::Forbidden(
            "this sign-in link is unknown, used or expired; run `vibe-kanban-mcp web login` for a new one".to_owned(),
        )
    };
    let Some(dir) = &web.signin.login_dir else {
        return Err(refused());
    };
    if web.signin.store.kind() != Backend::Sqlite || query.token.len() != 64 {
        return Err(refused());
    }
    let file = dir.join(LINK_DIR).join(hash_key(&query.token));
    let written = tokio::fs::read_to_string(&file)
        .await
        .map_err(|_| refused())?;
    // Removing it is what makes the link single-use: of two concurrent
    // uses, only one removal succeeds.
    tokio::fs::remove_file(&file).await.map_err(|_| refused())?;
    let fresh = DateTime::parse_from_rfc3339(written.trim())
        .is_ok_and(|expires| expires.with_timezone(&Utc) > Utc::now());
    if !fresh {
        return Err(refused());
    }
    let owner = auth::local_owner(&web.signin.store)
        .await
        .map_err(|e| WebError::Internal(format!("no local owner to sign in as: {e}")))?;
    tracing::info!(workspace = %owner.workspace_name, "signed in to the web board with a one-time link");
    let (id, max_age) = web.signin.open(Credential::Owner(owner.clone()), &owner)?;
    Ok(signed_in(&headers, &id, max_age))
}

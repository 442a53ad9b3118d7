//! Avatars over HTTP, behind the same bearer auth as `/mcp`:
//! `POST /avatars` sets the caller's own avatar from the request body (a
//! PNG, JPEG or WebP of at most 1 MB, with its `Content-Type`), and
//! `GET /avatars/{user_id}` serves a member's avatar as PNG to anyone in
//! the same workspace — the URL the board's cards use; a 404 means "show
//! the initials". Checking and storing is [`crate::avatars`].

use axum::{
    Json,
    body::Body,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::{
    auth::{Principal, Scope},
    avatars::{self, AVATAR_MIME, AvatarError, MAX_AVATAR_BYTES},
    logs::LogStore,
    store::Store,
};

/// What the avatar routes need of the HTTP state.
#[derive(Clone)]
pub struct Avatars {
    pub store: Store,
    /// The object store the logs use; `None` when the server has none.
    pub objects: Option<LogStore>,
}

fn refusal(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn avatar_refusal(error: &AvatarError) -> Response {
    let status = match error {
        AvatarError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        AvatarError::UnsupportedType { .. } | AvatarError::TypeMismatch { .. } => {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        }
        AvatarError::Empty | AvatarError::Undecodable { .. } => StatusCode::BAD_REQUEST,
        AvatarError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(%error, "storing an avatar failed");
    }
    refusal(status, error.to_string())
}

fn no_objects() -> Response {
    refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "this server keeps no objects, so it cannot keep avatars",
    )
}

/// `POST /avatars`: the caller's own avatar.
pub async fn upload(
    State(avatars): State<Avatars>,
    axum::Extension(principal): axum::Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if !principal.allows(Scope::Write) {
        return refusal(
            StatusCode::FORBIDDEN,
            "setting an avatar needs the `write` scope, which these credentials lack",
        );
    }
    let Some(objects) = &avatars.objects else {
        return no_objects();
    };
    let Some(declared) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the image with Content-Type image/png, image/jpeg or image/webp",
        );
    };
    // Too large: refused without reading on (a declared length says so
    // before any byte), on a connection the client must not reuse.
    let too_large = |size: usize| {
        let mut response = avatar_refusal(&AvatarError::TooLarge { size });
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        response
    };
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(length) = declared_length.filter(|l| *l > MAX_AVATAR_BYTES) {
        return too_large(length);
    }
    let bytes = match axum::body::to_bytes(body, MAX_AVATAR_BYTES + 1).await {
        Ok(bytes) => bytes,
        Err(_) => return too_large(MAX_AVATAR_BYTES + 1),
    };
    let user_id = principal.actor.user_id.as_str();
    match avatars::set_avatar(objects, user_id, &bytes, Some(declared)).await {
        Ok(key) => (
            StatusCode::CREATED,
            Json(json!({ "key": key, "url": format!("/avatars/{user_id}") })),
        )
            .into_response(),
        Err(error) => avatar_refusal(&error),
    }
}

/// `GET /avatars/{user_id}`: a member of the caller's workspace's avatar.
pub async fn download(
    State(avatars): State<Avatars>,
    axum::Extension(principal): axum::Extension<Principal>,
    Path(user_id): Path<String>,
) -> Response {
    let Some(objects) = &avatars.objects else {
        return no_objects();
    };
    let not_found = || {
        refusal(
            StatusCode::NOT_FOUND,
            format!(
                "user {user_id} has no avatar in workspace '{}'",
                principal.workspace_name
            ),
        )
    };
    // Another workspace's user is "not found", never their picture.
    match avatars.store.workspace(&principal.actor).await {
        Ok(workspace)
            if workspace
                .members
                .iter()
                .any(|m| m.user_id.as_str() == user_id) => {}
        Ok(_) => return not_found(),
        Err(error) => {
            tracing::error!(%error, "reading the workspace's members failed");
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store did not answer; try again",
            );
        }
    }
    match avatars::avatar(objects, &user_id).await {
        Ok(Some(png)) => (
            [
                (header::CONTENT_TYPE, AVATAR_MIME),
                (header::CACHE_CONTROL, "private, max-age=300"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            png,
        )
            .into_response(),
        Ok(None) => not_found(),
        Err(error) => avatar_refusal(&error),
    }
}

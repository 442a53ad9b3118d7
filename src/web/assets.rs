//! The board's script and stylesheet, embedded in the binary (no build
//! step, no CDN). Their URLs carry a hash of their content, so they are
//! cached for a year and a new binary's assets load at once; the ETag
//! answers revalidation with 304.

use std::sync::LazyLock;

use axum::{
    extract::Path,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};

const JS: &str = include_str!("assets/board.js");
const CSS: &str = include_str!("assets/board.css");

/// The script's URL (with its content hash).
pub static JS_URL: LazyLock<String> =
    LazyLock::new(|| format!("/assets/board.js?v={}", &tag(JS)[..12]));
/// The stylesheet's URL (with its content hash).
pub static CSS_URL: LazyLock<String> =
    LazyLock::new(|| format!("/assets/board.css?v={}", &tag(CSS)[..12]));

fn tag(content: &str) -> String {
    crate::auth::hash_key(content)
}

/// `GET /assets/{name}`.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let (body, kind) = match name.as_str() {
        "board.js" => (JS, "text/javascript; charset=utf-8"),
        "board.css" => (CSS, "text/css; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    let etag = format!("\"{}\"", &tag(body)[..16]);
    let cache = [
        (header::ETAG, etag.clone()),
        (
            header::CACHE_CONTROL,
            "public, max-age=31536000, immutable".to_owned(),
        ),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (cache, [(header::CONTENT_TYPE, kind)], body).into_response()
}

//! Members' faces on the board, and the account page where a person sets
//! their own avatar.
//!
//! - [`people`]: the workspace's members with their names, initials
//!   (computed here, so the page needs no script for them) and, for those
//!   who set one, their avatar's URL. The URL carries a hash of the
//!   picture (`/u/{user_id}/avatar?v=…`): one URL per member, cached by
//!   the browser, and a new picture is a new URL. Whether a member has an
//!   avatar is remembered for [`faces::SEEN_FOR`], so a board redrawn every
//!   second reads the object store once per member per half minute.
//! - `GET /u/{user_id}/avatar`: the picture, for a signed-in member of the
//!   same workspace only (another workspace's user is "not found"), with
//!   an ETag.
//! - `GET /account` and `POST /account/avatar`: a multipart form (file and
//!   CSRF token), checked exactly as `POST /avatars` checks an upload
//!   ([`crate::avatars::set_avatar`]: PNG, JPEG or WebP, at most 1 MB,
//!   decoded, re-encoded). A refused file changes nothing and says why.

use std::{collections::BTreeMap, sync::Arc};

use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::json;

use super::{
    error::WebError,
    faces::tag_of,
    layout,
    signin::{Signed, check_csrf},
    state::Web,
};
use crate::{
    auth::Scope,
    avatars::{self, AVATAR_MIME, AvatarError, MAX_AVATAR_BYTES},
    store::{Member, Workspace},
};

/// Room for the multipart framing and the CSRF field around a 1 MB file.
const FORM_OVERHEAD: usize = 16 * 1024;

/// A member as the board draws them.
pub struct Person {
    pub name: String,
    pub email: String,
    pub initials: String,
    /// Where their avatar is, if they set one.
    pub avatar: Option<String>,
}

/// The members of the caller's workspace, by user id.
#[derive(Default)]
pub struct People(BTreeMap<String, Person>);

impl People {
    /// User id → display name (the name, or the email without one).
    pub fn names(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(id, p)| (id.clone(), p.name.clone()))
            .collect()
    }

    pub fn get(&self, user_id: &str) -> Option<&Person> {
        self.0.get(user_id)
    }

    /// A member's name, or the id of someone who is no longer one.
    pub fn name<'a>(&'a self, user_id: &'a str) -> &'a str {
        self.0.get(user_id).map_or(user_id, |p| p.name.as_str())
    }

    /// A member's face: their avatar, or a circle with their initials.
    /// `labelled`: its accessible name is the member's name (a card shows
    /// the face alone); otherwise it is decoration beside the name.
    pub fn face(&self, user_id: &str, labelled: bool) -> Markup {
        let (name, initials, avatar) = match self.0.get(user_id) {
            Some(p) => (p.name.as_str(), p.initials.as_str(), p.avatar.as_deref()),
            None => (user_id, "?", None),
        };
        face(name, initials, avatar, labelled)
    }
}

/// Kept lean: a 500-card board draws one per assigned card (the size is
/// the stylesheet's, so nothing shifts when a picture arrives).
fn face(name: &str, initials: &str, avatar: Option<&str>, labelled: bool) -> Markup {
    html! {
        @match (avatar, labelled) {
            (Some(url), true) => img class="avatar" src=(url) alt=(name) loading="lazy";
            (Some(url), false) => img class="avatar" src=(url) alt="" loading="lazy";
            (None, true) => span class="avatar initials" role="img" aria-label=(name) { (initials) }
            (None, false) => span class="avatar initials" aria-hidden="true" { (initials) }
        }
    }
}

#[derive(Deserialize)]
struct WorkspaceList {
    workspaces: Vec<Workspace>,
}

/// The caller's workspace's members (through `list_workspaces`, as the
/// caller), with their faces. Empty when they cannot be read: cards then
/// show user ids, which is still correct.
pub async fn people(web: &Web, signed: &Signed) -> People {
    let Ok(list) = web
        .calls
        .call::<WorkspaceList>(&signed.principal, "list_workspaces", json!({}))
        .await
    else {
        return People::default();
    };
    let members: Vec<Member> = list
        .value
        .workspaces
        .into_iter()
        .filter(|w| w.id == signed.principal.actor.workspace_id)
        .flat_map(|w| w.members)
        .collect();
    let mut people = BTreeMap::new();
    for m in members {
        let id = m.user_id.to_string();
        let avatar = web
            .faces
            .tag(&id)
            .await
            .map(|tag| format!("/u/{id}/avatar?v={tag}"));
        let name = if m.name.trim().is_empty() {
            m.email.clone()
        } else {
            m.name.clone()
        };
        people.insert(
            id,
            Person {
                initials: avatars::initials(&m.name, &m.email),
                name,
                email: m.email,
                avatar,
            },
        );
    }
    People(people)
}

/// `GET /u/{user_id}/avatar`: a member's avatar, to members of the same
/// workspace. 404 (the page shows initials) when there is none.
pub async fn serve(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    Path(user_id): Path<String>,
) -> Result<Response, WebError> {
    let not_found = || {
        WebError::NotFound(format!(
            "user {user_id} has no avatar in workspace '{}'",
            signed.principal.workspace_name
        ))
    };
    let people = people(&web, &signed).await;
    if people.get(&user_id).is_none() {
        return Err(not_found());
    }
    let Some(objects) = &web.faces.objects else {
        return Err(not_found());
    };
    let png = avatars::avatar(objects, &user_id)
        .await
        .map_err(|e| WebError::Internal(format!("could not read the avatar of {user_id}: {e}")))?
        .ok_or_else(not_found)?;
    let etag = format!("\"{}\"", tag_of(&png));
    // The URL changes with the picture; a day of caching is safe, and the
    // ETag answers a revalidation without the bytes.
    let cache = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, "private, max-age=86400".to_owned()),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    if fresh {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    Ok((cache, [(header::CONTENT_TYPE, AVATAR_MIME)], png).into_response())
}

#[derive(Deserialize)]
pub struct AccountQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /account`: who you are, your avatar, and the form to change it.
pub async fn account(
    State(web): State<Arc<Web>>,
    signed: Signed,
    Query(query): Query<AccountQuery>,
) -> Result<Response, WebError> {
    let notice = query.saved.is_some().then_some("Your avatar was saved.");
    Ok(account_page(&web, &signed, StatusCode::OK, None, notice).await)
}

async fn account_page(
    web: &Web,
    signed: &Signed,
    status: StatusCode,
    error: Option<&str>,
    notice: Option<&str>,
) -> Response {
    let people = people(web, signed).await;
    let me = signed.principal.actor.user_id.to_string();
    let person = people.get(&me);
    let can_upload = web.faces.objects.is_some() && signed.principal.allows(Scope::Write);
    let body = html! {
        nav class="crumbs" aria-label="Breadcrumb" { a href="/" { "Projects" } " / " span { "Account" } }
        h1 { "Your account" }
        div class="account" {
            span class="face-large" { (people.face(&me, true)) }
            dl class="facts" {
                dt { "Name" } dd { (person.map_or(me.as_str(), |p| p.name.as_str())) }
                dt { "Email" } dd { (person.map_or("", |p| p.email.as_str())) }
                dt { "Workspace" } dd { (signed.principal.workspace_name) }
                dt { "Role" } dd { (signed.principal.role.to_string()) }
                dt { "Scopes" } dd { (signed.principal.scopes.to_string()) }
            }
        }
        h2 { "Avatar" }
        @if let Some(error) = error { p class="error" role="alert" { (error) } }
        @if let Some(notice) = notice { p class="notice" role="status" { (notice) } }
        @if can_upload {
            form method="post" action="/account/avatar" enctype="multipart/form-data" class="stack narrow-form" {
                input type="hidden" name="_csrf" value=(signed.csrf);
                label for="avatar" { "New avatar: PNG, JPEG or WebP, at most 1 MB (it is cropped to a square)" }
                input id="avatar" name="avatar" type="file" accept="image/png,image/jpeg,image/webp" required;
                button type="submit" { "Upload avatar" }
            }
        } @else if web.faces.objects.is_none() {
            p class="muted" { "This server keeps no objects, so it cannot keep avatars; cards show initials." }
        } @else {
            p class="muted" { "Setting an avatar needs the write scope; you signed in with " (signed.principal.scopes.to_string()) "." }
        }
    };
    (status, layout::page("Account", signed, body)).into_response()
}

/// `POST /account/avatar`: sets the caller's own avatar from the form.
pub async fn upload(
    State(web): State<Arc<Web>>,
    signed: Signed,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, WebError> {
    let refuse = async |status: StatusCode, message: String| {
        Ok(account_page(&web, &signed, status, Some(&message), None).await)
    };
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(boundary_of);
    let Some(boundary) = boundary else {
        // Without a form there is no CSRF field either: refused as such.
        check_csrf(&signed, &headers, None)?;
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the avatar with the form on this page (multipart/form-data)".to_owned(),
        )
        .await;
    };
    let limit = MAX_AVATAR_BYTES + FORM_OVERHEAD;
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    // Too large: refused without reading on (the CSRF token is in the
    // unread body, and nothing changes either way), on a connection the
    // browser must not reuse.
    let too_large = async |size: usize| -> Result<Response, WebError> {
        let message = AvatarError::TooLarge { size }.to_string();
        let mut response = refuse(StatusCode::PAYLOAD_TOO_LARGE, message).await?;
        response.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
        Ok(response)
    };
    if let Some(length) = declared_length.filter(|l| *l > limit) {
        return too_large(length).await;
    }
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return too_large(limit + 1).await;
    };
    let parts = parse_multipart(&bytes, &boundary).map_err(|e| {
        WebError::BadRequest(format!(
            "the form could not be read ({e}); reload the page and try again"
        ))
    })?;
    let csrf = parts
        .iter()
        .find(|p| p.name == "_csrf")
        .map(|p| String::from_utf8_lossy(p.body).into_owned());
    check_csrf(&signed, &headers, csrf.as_deref())?;
    if !signed.principal.allows(Scope::Write) {
        return Err(WebError::Forbidden(format!(
            "setting an avatar needs the write scope; you signed in with {} in workspace '{}'",
            signed.principal.scopes, signed.principal.workspace_name
        )));
    }
    let Some(objects) = &web.faces.objects else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server keeps no objects, so it cannot keep avatars".to_owned(),
        )
        .await;
    };
    let Some(file) = parts.iter().find(|p| p.name == "avatar") else {
        return refuse(StatusCode::BAD_REQUEST, AvatarError::Empty.to_string()).await;
    };
    // A browser names the type from the file's extension; one it does not
    // know comes as octet-stream, which says nothing: the bytes decide.
    let declared = file
        .content_type
        .as_deref()
        .filter(|t| !t.eq_ignore_ascii_case("application/octet-stream"));
    let user_id = signed.principal.actor.user_id.to_string();
    match avatars::set_avatar(objects, &user_id, file.body, declared).await {
        Ok(_) => {
            web.faces.forget(&user_id);
            tracing::info!(user = %user_id, workspace = %signed.principal.workspace_name, "avatar set from the web board");
            Ok(Redirect::to("/account?saved=1").into_response())
        }
        Err(AvatarError::Storage(error)) => Err(WebError::Internal(format!(
            "could not store the avatar of {user_id}: {error}"
        ))),
        Err(error) => {
            let status = match error {
                AvatarError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                AvatarError::UnsupportedType { .. } | AvatarError::TypeMismatch { .. } => {
                    StatusCode::UNSUPPORTED_MEDIA_TYPE
                }
                _ => StatusCode::BAD_REQUEST,
            };
            refuse(status, error.to_string()).await
        }
    }
}

/// The boundary of a `multipart/form-data` content type.
fn boundary_of(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let kind = params.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 200)
}

/// One part of a multipart form.
struct Part<'a> {
    name: String,
    content_type: Option<String>,
    body: &'a [u8],
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// The parts of a `multipart/form-data` body (RFC 7578), binary-safe.
fn parse_multipart<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<Part<'a>>, &'static str> {
    let delimiter = format!("--{boundary}");
    let next = format!("\r\n--{boundary}");
    let mut at = find(body, delimiter.as_bytes(), 0).ok_or("no boundary")? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        if body.get(at..at + 2) == Some(b"--") {
            return Ok(parts);
        }
        if body.get(at..at + 2) != Some(b"\r\n") {
            return Err("a boundary is not followed by a line end");
        }
        let head_start = at + 2;
        let head_end = find(body, b"\r\n\r\n", head_start).ok_or("a part has no end of headers")?;
        let head = std::str::from_utf8(&body[head_start..head_end])
            .map_err(|_| "a part's headers are not text")?;
        let content_start = head_end + 4;
        let content_end = find(body, next.as_bytes(), content_start)
            .ok_or("the form ends before its last boundary")?;
        let mut name = None;
        let mut content_type = None;
        for line in head.split("\r\n") {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.trim().eq_ignore_ascii_case("content-disposition") {
                name = value
                    .split(';')
                    .filter_map(|p| p.trim().split_once('='))
                    .find(|(k, _)| k.eq_ignore_ascii_case("name"))
                    .map(|(_, v)| v.trim_matches('"').to_owned());
            } else if key.trim().eq_ignore_ascii_case("content-type") {
                content_type = Some(value.trim().to_owned());
            }
        }
        parts.push(Part {
            name: name.ok_or("a part has no name")?,
            content_type,
            body: &body[content_start..content_end],
        });
        at = content_end + next.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_form_is_read_binary_safe() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\nabc\r\n--XyZ\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n\x89PNG\r\n\x00--Xy\r\n--XyZ--\r\n";
        let parts = parse_multipart(body, "XyZ").expect("parsed");
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (parts[0].name.as_str(), parts[0].body),
            ("_csrf", &b"abc"[..])
        );
        assert_eq!(parts[1].name, "avatar");
        assert_eq!(parts[1].content_type.as_deref(), Some("image/png"));
        assert_eq!(parts[1].body, b"\x89PNG\r\n\x00--Xy");
        assert!(parse_multipart(b"--XyZ\r\nno headers", "XyZ").is_err());
        assert_eq!(
            boundary_of("multipart/form-data; boundary=\"----Web\"").as_deref(),
            Some("----Web")
        );
        assert_eq!(boundary_of("application/x-www-form-urlencoded"), None);
    }
}

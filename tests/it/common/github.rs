//! A loopback stand-in for GitHub: the REST endpoints this server calls
//! (`GET /user`, `GET /repos/{owner}/{repo}`, `POST`/`GET /repos/{owner}/{repo}/pulls`, `GET
//! /repos/{owner}/{repo}/pulls/{n}` with ETag/304) and the OAuth device
//! flow, speaking GitHub's documented wire format, error bodies included
//! (`{"message", "documentation_url"}`, the `errors` array of a 422). Tests
//! script faults (the next answer of a path) and read what was asked.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

pub const TOKEN: &str = "ghp_TestTokenThatMustNeverBeStoredInClear0123";
pub const LOGIN: &str = "octo-dev";
const DOCS: &str = "https://docs.github.com/rest";

/// One request the stand-in saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub if_none_match: Option<String>,
    pub body: Value,
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Canned {
    pub fn error(status: u16, message: &str) -> Canned {
        Canned {
            status,
            headers: Vec::new(),
            body: json!({ "message": message, "documentation_url": DOCS }),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

#[derive(Debug, Clone)]
pub struct Pull {
    pub number: i64,
    pub owner: String,
    pub repo: String,
    pub head: String,
    pub base: String,
    pub title: String,
    pub body: String,
    pub draft: bool,
    pub state: String,
    pub merged: bool,
}

#[derive(Default)]
struct World {
    /// Valid tokens: token → (user id, login, scopes).
    tokens: HashMap<String, (i64, String, String)>,
    /// Repositories that exist ("owner/repo").
    repos: Vec<String>,
    /// Their default branch (`main` unless a test says otherwise).
    default_branch: Option<String>,
    pulls: Vec<Pull>,
    /// Faults: a path prefix → answers to give before the real one.
    faults: Vec<(String, VecDeque<Canned>)>,
    /// The device flow's poll answers, in order (an `error` or a token).
    device_polls: VecDeque<Value>,
    seen: Vec<Seen>,
}

/// The running stand-in.
#[derive(Clone)]
pub struct GitHubStandIn {
    pub url: String,
    world: Arc<Mutex<World>>,
}

impl GitHubStandIn {
    /// Starts on 127.0.0.1 with one valid token ([`TOKEN`]) and one
    /// repository, `acme/widgets`.
    pub async fn start() -> GitHubStandIn {
        let world = Arc::new(Mutex::new(World::default()));
        {
            let mut w = world.lock().expect("world");
            w.tokens.insert(
                TOKEN.to_owned(),
                (4242, LOGIN.to_owned(), "repo, read:org".to_owned()),
            );
            w.repos.push("acme/widgets".to_owned());
        }
        let app = Router::new()
            .route("/user", get(user))
            .route("/repos/{owner}/{repo}", get(get_repo))
            .route(
                "/repos/{owner}/{repo}/pulls",
                post(create_pull).get(list_pulls),
            )
            .route("/repos/{owner}/{repo}/pulls/{number}", get(get_pull))
            .route("/login/device/code", post(device_code))
            .route("/login/oauth/access_token", post(access_token))
            .with_state(Arc::clone(&world));
        // The tests also run the CLI, blocking their own runtime while the
        // child talks to this server.
        let url = super::serve_on_own_thread(app, "GitHub stand-in");
        GitHubStandIn { url, world }
    }

    /// The next answer to a request whose path starts with `path`.
    pub fn fail_next(&self, path: &str, answer: Canned) {
        let mut w = self.world.lock().expect("world");
        match w.faults.iter_mut().find(|(p, _)| p == path) {
            Some((_, queue)) => queue.push_back(answer),
            None => w.faults.push((path.to_owned(), VecDeque::from([answer]))),
        }
    }

    /// Scripts the device flow's poll answers.
    pub fn device_polls(&self, answers: Vec<Value>) {
        self.world.lock().expect("world").device_polls = answers.into();
    }

    /// Revokes every token.
    pub fn revoke_all(&self) {
        self.world.lock().expect("world").tokens.clear();
    }

    /// The repositories' default branch from now on.
    pub fn set_default_branch(&self, branch: &str) {
        self.world.lock().expect("world").default_branch = Some(branch.to_owned());
    }

    pub fn pulls(&self) -> Vec<Pull> {
        self.world.lock().expect("world").pulls.clone()
    }

    /// Sets a pull request's state as GitHub would after a merge or close.
    pub fn set_pull(&self, number: i64, state: &str, merged: bool) {
        let mut w = self.world.lock().expect("world");
        let pull = w
            .pulls
            .iter_mut()
            .find(|p| p.number == number)
            .expect("pull exists");
        pull.state = state.to_owned();
        pull.merged = merged;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.world.lock().expect("world").seen.clone()
    }
}

type Shared = State<Arc<Mutex<World>>>;

fn answer(canned: Canned) -> Response {
    let mut response = (
        StatusCode::from_u16(canned.status).expect("status"),
        Json(canned.body),
    )
        .into_response();
    for (name, value) in canned.headers {
        response.headers_mut().insert(
            axum::http::HeaderName::try_from(name).expect("header name"),
            value.parse().expect("header value"),
        );
    }
    response
}

/// Records the request; a scripted fault, or a bad token, answers first.
#[allow(clippy::result_large_err)] // the error is the answer, sent at once
fn enter(
    world: &mut World,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: Value,
    needs_token: bool,
) -> Result<(i64, String, String), Response> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    world.seen.push(Seen {
        method: method.to_owned(),
        path: path.to_owned(),
        authorization: header("authorization"),
        if_none_match: header("if-none-match"),
        body,
    });
    if let Some((_, queue)) = world
        .faults
        .iter_mut()
        .find(|(p, _)| path.starts_with(p.as_str()))
        && let Some(canned) = queue.pop_front()
    {
        return Err(answer(canned));
    }
    if !needs_token {
        return Ok((0, String::new(), String::new()));
    }
    let token = header("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned))
        .or_else(|| {
            header("authorization").and_then(|v| v.strip_prefix("token ").map(str::to_owned))
        });
    match token.and_then(|t| world.tokens.get(&t).cloned()) {
        Some(user) => Ok(user),
        None => Err(answer(Canned::error(401, "Bad credentials"))),
    }
}

async fn user(State(world): Shared, headers: HeaderMap) -> Response {
    let mut w = world.lock().expect("world");
    match enter(&mut w, "GET", "/user", &headers, Value::Null, true) {
        Ok((id, login, scopes)) => {
            let mut response =
                Json(json!({ "login": login, "id": id, "type": "User" })).into_response();
            response
                .headers_mut()
                .insert("x-oauth-scopes", scopes.parse().expect("scopes"));
            response
        }
        Err(response) => response,
    }
}

/// `GET /repos/{owner}/{repo}`: the fields of GitHub's repository object
/// this server reads, and a few beside them.
async fn get_repo(
    State(world): Shared,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/repos/{owner}/{repo}");
    let mut w = world.lock().expect("world");
    if let Err(response) = enter(&mut w, "GET", &path, &headers, Value::Null, true) {
        return response;
    }
    let full_name = format!("{owner}/{repo}");
    if !w.repos.iter().any(|r| r.eq_ignore_ascii_case(&full_name)) {
        return answer(Canned::error(404, "Not Found"));
    }
    Json(json!({
        "id": 1296269,
        "name": repo,
        "full_name": full_name,
        "owner": { "login": owner },
        "private": true,
        "html_url": format!("https://github.com/{full_name}"),
        "default_branch": w.default_branch.clone().unwrap_or_else(|| "main".to_owned()),
    }))
    .into_response()
}

fn pull_json(pull: &Pull) -> Value {
    json!({
        "number": pull.number,
        "html_url": format!("https://github.com/{}/{}/pull/{}", pull.owner, pull.repo, pull.number),
        "state": pull.state,
        "merged": pull.merged,
        "merged_at": if pull.merged { json!("2026-12-01T12:00:00Z") } else { Value::Null },
        "draft": pull.draft,
        "title": pull.title,
        "head": { "ref": pull.head, "label": format!("{}:{}", pull.owner, pull.head) },
        "base": { "ref": pull.base },
    })
}

async fn create_pull(
    State(world): Shared,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = format!("/repos/{owner}/{repo}/pulls");
    let mut w = world.lock().expect("world");
    if let Err(response) = enter(&mut w, "POST", &path, &headers, body.clone(), true) {
        return response;
    }
    if !w.repos.contains(&format!("{owner}/{repo}")) {
        return answer(Canned::error(404, "Not Found"));
    }
    let head = body["head"].as_str().unwrap_or_default().to_owned();
    if w.pulls
        .iter()
        .any(|p| p.owner == owner && p.repo == repo && p.head == head && p.state == "open")
    {
        return answer(Canned {
            status: 422,
            headers: Vec::new(),
            body: json!({
                "message": "Validation Failed",
                "errors": [{ "resource": "PullRequest", "code": "custom",
                             "message": format!("A pull request already exists for {owner}:{head}.") }],
                "documentation_url": DOCS,
            }),
        });
    }
    let pull = Pull {
        number: w.pulls.len() as i64 + 1,
        owner,
        repo,
        head,
        base: body["base"].as_str().unwrap_or_default().to_owned(),
        title: body["title"].as_str().unwrap_or_default().to_owned(),
        body: body["body"].as_str().unwrap_or_default().to_owned(),
        draft: body["draft"].as_bool().unwrap_or(false),
        state: "open".to_owned(),
        merged: false,
    };
    let reply = pull_json(&pull);
    w.pulls.push(pull);
    (StatusCode::CREATED, Json(reply)).into_response()
}

async fn list_pulls(
    State(world): Shared,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/repos/{owner}/{repo}/pulls");
    let mut w = world.lock().expect("world");
    if let Err(response) = enter(&mut w, "GET", &path, &headers, json!(query), true) {
        return response;
    }
    let head = query.get("head").cloned().unwrap_or_default();
    let list: Vec<Value> = w
        .pulls
        .iter()
        .filter(|p| p.owner == owner && p.repo == repo && p.state == "open")
        .filter(|p| head.is_empty() || format!("{}:{}", p.owner, p.head) == head)
        .map(pull_json)
        .collect();
    Json(list).into_response()
}

async fn get_pull(
    State(world): Shared,
    Path((owner, repo, number)): Path<(String, String, i64)>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/repos/{owner}/{repo}/pulls/{number}");
    let mut w = world.lock().expect("world");
    if let Err(response) = enter(&mut w, "GET", &path, &headers, Value::Null, true) {
        return response;
    }
    let Some(pull) = w
        .pulls
        .iter()
        .find(|p| p.owner == owner && p.repo == repo && p.number == number)
    else {
        return answer(Canned::error(404, "Not Found"));
    };
    let etag = format!("W/\"{}-{}-{}\"", pull.number, pull.state, pull.merged);
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return (StatusCode::NOT_MODIFIED, [("etag", etag)]).into_response();
    }
    let mut response = Json(pull_json(pull)).into_response();
    response
        .headers_mut()
        .insert("etag", etag.parse().expect("etag"));
    response
}

async fn device_code(State(world): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let form = String::from_utf8_lossy(&body).into_owned();
    let mut w = world.lock().expect("world");
    if let Err(response) = enter(
        &mut w,
        "POST",
        "/login/device/code",
        &headers,
        json!(form),
        false,
    ) {
        return response;
    }
    if !form.contains("client_id=Iv1.standin") {
        return Json(json!({ "error": "incorrect_client_credentials" })).into_response();
    }
    Json(json!({
        "device_code": "3584d83530557fdd1f46af8289938c8ef79f9dc5",
        "user_code": "WDJB-MJHT",
        "verification_uri": "https://github.com/login/device",
        "expires_in": 900,
        "interval": 1,
    }))
    .into_response()
}

async fn access_token(State(world): Shared, headers: HeaderMap, body: Bytes) -> Response {
    let form = String::from_utf8_lossy(&body).into_owned();
    let mut w = world.lock().expect("world");
    if let Err(response) = enter(
        &mut w,
        "POST",
        "/login/oauth/access_token",
        &headers,
        json!(form),
        false,
    ) {
        return response;
    }
    let next = w
        .device_polls
        .pop_front()
        .unwrap_or_else(|| json!({ "error": "expired_token" }));
    Json(next).into_response()
}

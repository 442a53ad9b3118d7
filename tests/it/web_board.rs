//! The web board over HTTP, without a browser: sign-in (key, one-time
//! link), the session cookie, CSRF, scopes, workspace isolation, sign-out
//! and key revocation, security headers, escaping, moves and the live
//! board stream. The real binary (`serve --http`) on a real SQLite file;
//! an MCP client in another server on the same file makes the changes a
//! person would see. The browser tests are in `web_browser`.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::{
    common::{self, DataDir, Server},
    http_support::HttpServer,
};

/// A client that shows redirects instead of following them.
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// `text` percent-encoded for a URL or form.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A form body (`application/x-www-form-urlencoded`).
pub fn form_body(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A signed-in browser, as far as HTTP goes: its cookie.
pub struct Session {
    pub cookie: String,
}

/// Signs in with `token`; returns the session cookie.
pub async fn sign_in(server: &HttpServer, token: &str) -> Session {
    let response = client()
        .post(server.url("/signin"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form_body(&[("token", token)]))
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "sign-in refused");
    let set = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie")
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Max-Age="),
        "{set}"
    );
    Session {
        cookie: set.split(';').next().expect("cookie").to_owned(),
    }
}

impl Session {
    pub async fn get(&self, server: &HttpServer, path: &str) -> (StatusCode, String) {
        let response = client()
            .get(server.url(path))
            .header(header::COOKIE, &self.cookie)
            .send()
            .await
            .expect("get");
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    pub async fn post(
        &self,
        server: &HttpServer,
        path: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let response = client()
            .post(server.url(path))
            .header(header::COOKIE, &self.cookie)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form_body(form))
            .send()
            .await
            .expect("post");
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    /// The CSRF token the pages of this session carry.
    pub async fn csrf(&self, server: &HttpServer) -> String {
        let (status, page) = self.get(server, "/").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        csrf_of(&page)
    }
}

pub fn csrf_of(page: &str) -> String {
    page.split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field on the page")
        .to_owned()
}

/// An MCP client (its own server process state, in this process) on the
/// same data directory as the web server.
async fn mcp(data: &DataDir) -> Server {
    Server::in_process(data, &["--no-runner"], &[]).await
}

async fn tasks(mcp: &Server, project: &str) -> Vec<Value> {
    let page = mcp
        .call("list_tasks", json!({"project_id": project, "limit": 200}))
        .await;
    page["tasks"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_key_signs_in_and_sees_the_board_escaped_behind_strict_headers() {
    let data = DataDir::new();
    let key = data.create_key("default", "person", "read,write");
    let server = HttpServer::start(data.path(), &[], &[]);
    let mcp = mcp(&data).await;
    let project = common::id(
        &mcp.call("create_project", json!({"name": "Web <b>app</b>"}))
            .await,
    );
    mcp.task(&project, "<img src=x onerror=alert(1)>", json!({}))
        .await;

    // Not signed in: pages send you to the sign-in form.
    let (status, _) = Session {
        cookie: String::new(),
    }
    .get(&server, "/")
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let refused = client()
        .post(server.url("/signin"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form_body(&[("token", "vk_not-a-key")]))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(
        refused
            .text()
            .await
            .expect("body")
            .contains("unknown, revoked or expired")
    );

    let session = sign_in(&server, &key).await;
    let response = client()
        .get(server.url(&format!("/p/{project}")))
        .header(header::COOKIE, &session.cookie)
        .send()
        .await
        .expect("board");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let csp = headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("csp");
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    let page = response.text().await.expect("body");
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{page}"
    );
    assert!(!page.contains("<img"), "{page}");
    assert!(page.contains("Web &lt;b&gt;app&lt;/b&gt;"), "{page}");
    // No inline script or style anywhere (the CSP would block them).
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "{page}"
    );
    for status in ["To do", "In progress", "In review", "Done", "Cancelled"] {
        assert!(page.contains(status), "{status}: {page}");
    }
    mcp.stop().await;
}

#[tokio::test]
async fn changes_need_the_csrf_token_the_write_scope_and_the_same_origin() {
    let data = DataDir::new();
    let writer = data.create_key("default", "writer", "read,write");
    let viewer = data.create_key("default", "viewer", "read");
    let server = HttpServer::start(data.path(), &[], &[]);
    let mcp = mcp(&data).await;
    let project = common::id(&mcp.call("create_project", json!({"name": "app"})).await);
    let path = format!("/p/{project}/tasks");

    let person = sign_in(&server, &writer).await;
    let (status, page) = person.post(&server, &path, &[("title", "no token")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("CSRF"), "{page}");
    let (status, _) = person
        .post(&server, &path, &[("title", "wrong token"), ("_csrf", "00")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(tasks(&mcp, &project).await.is_empty());

    let csrf = person.csrf(&server).await;
    let foreign = client()
        .post(server.url(&path))
        .header(header::COOKIE, &person.cookie)
        .header(header::ORIGIN, "http://evil.example")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form_body(&[
            ("title", "cross-site"),
            ("_csrf", csrf.as_str()),
        ]))
        .send()
        .await
        .expect("post");
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert!(tasks(&mcp, &project).await.is_empty());

    let (status, _) = person
        .post(
            &server,
            &path,
            &[("title", "Made on the web"), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let made = tasks(&mcp, &project).await;
    assert_eq!(made.len(), 1);
    assert_eq!(made[0]["title"], "Made on the web");
    let task = made[0]["id"].as_str().expect("id").to_owned();
    // The audit row names the key that signed in, as for an MCP call.
    let actor = data.rows(
        "SELECT api_key_id FROM audit_logs WHERE entity_id = ? AND action = 'create'",
        &[json!(task)],
    );
    assert!(
        matches!(&actor[..], [row] if !row[0].is_null()),
        "{actor:?}"
    );

    // A viewer sees the board without controls, and its forged posts fail.
    let looker = sign_in(&server, &viewer).await;
    let (status, board) = looker.get(&server, &format!("/p/{project}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(board.contains("Made on the web"));
    assert!(
        !board.contains("class=\"new-task\"") && !board.contains("draggable"),
        "{board}"
    );
    let (_, task_page) = looker.get(&server, &format!("/t/{task}")).await;
    assert!(
        !task_page.contains("Edit task") && !task_page.contains("Add subtask"),
        "{task_page}"
    );
    let csrf = csrf_of(&board);
    let (status, page) = looker
        .post(&server, &path, &[("title", "forged"), ("_csrf", &csrf)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("write scope"), "{page}");
    let (status, _) = looker
        .post(
            &server,
            &format!("/t/{task}/move"),
            &[("status", "done"), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let after = tasks(&mcp, &project).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["status"], "todo");
    mcp.stop().await;
}

#[tokio::test]
async fn another_workspaces_task_is_not_found() {
    let data = DataDir::new();
    data.create_workspace("other", "other@example.com");
    let outsider = data.create_key("other", "outsider", "read,write");
    let server = HttpServer::start(data.path(), &[], &[]);
    let mcp = mcp(&data).await;
    let project = common::id(&mcp.call("create_project", json!({"name": "app"})).await);
    let task = mcp.task(&project, "Private", json!({})).await;

    let session = sign_in(&server, &outsider).await;
    for path in [format!("/t/{task}"), format!("/p/{project}")] {
        let (status, page) = session.get(&server, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {page}");
        assert!(!page.contains("Private"), "{page}");
        assert!(page.contains("not found in workspace"), "{page}");
    }
    mcp.stop().await;
}

/// Polls until `done` holds (a hang guard, not a timing assertion).
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let started = Instant::now();
    while !done().await {
        assert!(started.elapsed() < Duration::from_secs(20), "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sign_out_and_key_revocation_end_sessions_and_their_streams() {
    let data = DataDir::new();
    let key = data.create_key("default", "person", "read,write");
    let server = HttpServer::start(data.path(), &[], &[]);
    let mcp = mcp(&data).await;
    let project = common::id(&mcp.call("create_project", json!({"name": "app"})).await);

    let first = sign_in(&server, &key).await;
    let csrf = first.csrf(&server).await;
    let (status, _) = first.post(&server, "/signout", &[("_csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = first.get(&server, "/").await;
    assert_eq!(
        status,
        StatusCode::SEE_OTHER,
        "the cookie of a signed-out session still works"
    );

    let second = sign_in(&server, &key).await;
    let stream = client()
        .get(server.url(&format!("/p/{project}/events")))
        .header(header::COOKIE, &second.cookie)
        .header(header::ACCEPT, "text/event-stream")
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status(), StatusCode::OK);
    let mut events = stream.bytes_stream();
    let key_id = data.cli_ok(&["keys", "list", "--workspace", "default", "--json"]);
    let keys: Value = serde_json::from_str(&key_id).expect("json");
    let id = keys
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["name"] == "person"))
        .and_then(|k| k["id"].as_str())
        .expect("the key")
        .to_owned();
    data.cli_ok(&["keys", "revoke", &id]);
    // The open stream ends…
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = events.next().await {
            if chunk.is_err() {
                break;
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the board stream stayed open after its key was revoked"
    );
    // … and the session is over.
    eventually("the revoked key's session ends", || async {
        second.get(&server, "/").await.0 == StatusCode::SEE_OTHER
    })
    .await;
    mcp.stop().await;
}

#[tokio::test]
async fn a_one_time_link_signs_in_the_local_owner_once() {
    let data = DataDir::new();
    let server = HttpServer::start(data.path(), &[], &[]);
    let link = data.cli_ok(&["web", "login", "--url", &server.url("")]);
    let link = link.trim();
    assert!(link.starts_with(&server.url("/login?token=")), "{link}");
    let response = client().get(link).send().await.expect("link");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .expect("cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    let (status, page) = Session { cookie }.get(&server, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Projects"), "{page}");
    let again = client().get(link).send().await.expect("link");
    assert_eq!(
        again.status(),
        StatusCode::FORBIDDEN,
        "a sign-in link worked twice"
    );
    let made_up = client()
        .get(server.url(&format!("/login?token={}", "ab".repeat(32))))
        .send()
        .await
        .expect("link");
    assert_eq!(made_up.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn moves_keep_status_and_order_in_the_store() {
    let data = DataDir::new();
    let key = data.create_key("default", "person", "read,write");
    let server = HttpServer::start(data.path(), &[], &[]);
    let mcp = mcp(&data).await;
    let project = common::id(&mcp.call("create_project", json!({"name": "app"})).await);
    let a = mcp.task(&project, "A", json!({})).await;
    let b = mcp.task(&project, "B", json!({})).await;
    let c = mcp.task(&project, "C", json!({})).await;
    let session = sign_in(&server, &key).await;
    let csrf = session.csrf(&server).await;
    let order = |status: &'static str| {
        let mcp = &mcp;
        let project = &project;
        async move {
            let page = mcp
                .call(
                    "list_tasks",
                    json!({"project_id": project, "status": [status]}),
                )
                .await;
            common::titles(&page)
        }
    };
    // C before A: no room between positions, so the cards after move down.
    let (status, _) = session
        .post(
            &server,
            &format!("/t/{c}/move"),
            &[("status", "todo"), ("before", &a), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(order("todo").await, ["C", "A", "B"]);
    // B to In progress (the drag of the browser test), then A to its end.
    session
        .post(
            &server,
            &format!("/t/{b}/move"),
            &[("status", "inprogress"), ("before", ""), ("_csrf", &csrf)],
        )
        .await;
    session
        .post(
            &server,
            &format!("/t/{a}/move"),
            &[("dir", "right"), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(order("todo").await, ["C"]);
    assert_eq!(order("inprogress").await, ["B", "A"]);
    // The keyboard's up and down.
    session
        .post(
            &server,
            &format!("/t/{a}/move"),
            &[("dir", "up"), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(order("inprogress").await, ["A", "B"]);
    session
        .post(
            &server,
            &format!("/t/{a}/move"),
            &[("dir", "down"), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(order("inprogress").await, ["B", "A"]);
    let (status, page) = session
        .post(
            &server,
            &format!("/t/{a}/move"),
            &[("dir", "sideways"), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("use left, right, up or down"), "{page}");
    mcp.stop().await;
}

#[tokio::test]
async fn an_open_board_hears_of_an_mcp_clients_change() {
    let data = DataDir::new();
    let key = data.create_key("default", "person", "read,write");
    let server = HttpServer::start(data.path(), &[], &[]);
    let mcp = mcp(&data).await;
    let project = common::id(&mcp.call("create_project", json!({"name": "app"})).await);
    let task = mcp.task(&project, "Watched", json!({})).await;
    let session = sign_in(&server, &key).await;
    let (_, board) = session.get(&server, &format!("/p/{project}")).await;
    let since = board
        .split("data-version=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the board's version")
        .to_owned();
    let stream = client()
        .get(server.url(&format!(
            "/p/{project}/events?since={}",
            super::web_board::encode(&since)
        )))
        .header(header::COOKIE, &session.cookie)
        .header(header::ACCEPT, "text/event-stream")
        .send()
        .await
        .expect("events");
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(
        stream.headers()[header::CONTENT_TYPE]
            .to_str()
            .expect("type")
            .starts_with("text/event-stream")
    );
    let mut events = stream.bytes_stream();
    // Whenever the stream's poller first looks, before or after this
    // change, the board is no longer at the version the page was drawn at.
    mcp.call(
        "update_task",
        json!({"task_id": task, "status": "inreview"}),
    )
    .await;
    let mut seen = String::new();
    let heard = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(Ok(chunk)) = events.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: board") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(heard, Ok(true), "no board event: {seen}");
    let (_, columns) = session.get(&server, &format!("/p/{project}/columns")).await;
    let review = columns
        .split("<ol class=\"cards\" data-status=\"inreview\">")
        .nth(1)
        .and_then(|rest| rest.split("</ol>").next())
        .expect("the In review column");
    assert!(review.contains("Watched"), "{columns}");
    mcp.stop().await;
}

#[test]
fn web_serves_this_machine_only() {
    let data = DataDir::new();
    let out = data.cli(&["web", "0.0.0.0:0"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("serves on this machine only") && err.contains("serve --http"),
        "{err}"
    );
}

#[tokio::test]
async fn no_auth_mode_is_the_local_owner_and_still_needs_the_csrf_token() {
    let data = DataDir::new();
    let server = HttpServer::start(data.path(), &["--no-auth"], &[]);
    let anyone = Session {
        cookie: String::new(),
    };
    let (status, page) = anyone.get(&server, "/").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Projects"));
    let mcp = mcp(&data).await;
    let project = common::id(&mcp.call("create_project", json!({"name": "app"})).await);
    let path = format!("/p/{project}/tasks");
    let (status, _) = anyone.post(&server, &path, &[("title", "no token")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let csrf = csrf_of(&page);
    let (status, _) = anyone
        .post(&server, &path, &[("title", "local"), ("_csrf", &csrf)])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(tasks(&mcp, &project).await.len(), 1);
    mcp.stop().await;
}

/// Pages and assets go out gzipped to a browser that accepts it (issue 17:
/// first load at most 150 KB compressed, and a big board is mostly
/// repeated markup); the board's event stream is never buffered for it.
#[tokio::test]
async fn pages_and_assets_are_gzipped_but_event_streams_are_not() {
    use std::io::Read;

    let data = DataDir::new();
    let key = data.create_key("default", "person", "read,write");
    let server = HttpServer::start(data.path(), &[], &[]);
    let mcp = mcp(&data).await;
    let project = common::id(&mcp.call("create_project", json!({"name": "Zip"})).await);
    for i in 0..200 {
        mcp.task(
            &project,
            &format!("Task number {i} of the board"),
            json!({}),
        )
        .await;
    }
    let session = sign_in(&server, &key).await;
    let (status, plain) = session.get(&server, &format!("/p/{project}")).await;
    assert_eq!(status, StatusCode::OK, "{plain}");

    let fetch = |path: String| {
        let cookie = session.cookie.clone();
        let url = server.url(&path);
        async move {
            client()
                .get(url)
                .header(header::COOKIE, cookie)
                .header(header::ACCEPT_ENCODING, "gzip")
                .send()
                .await
                .expect("get")
        }
    };
    let zipped = fetch(format!("/p/{project}")).await;
    assert_eq!(zipped.status(), StatusCode::OK);
    assert_eq!(
        zipped
            .headers()
            .get(header::CONTENT_ENCODING)
            .map(|v| v.as_bytes()),
        Some(&b"gzip"[..]),
        "{:?}",
        zipped.headers()
    );
    // The security headers survive compression.
    assert!(zipped.headers().contains_key("content-security-policy"));
    let bytes = zipped.bytes().await.expect("body");
    let mut html = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut html)
        .expect("a gzip body");
    assert_eq!(html.matches("class=\"card\"").count(), 200);
    assert_eq!(
        html.matches("class=\"card\"").count(),
        plain.matches("class=\"card\"").count()
    );
    assert!(
        bytes.len() * 4 < plain.len(),
        "{} gzipped bytes for {} plain",
        bytes.len(),
        plain.len()
    );

    let script = fetch("/assets/board.js".to_owned()).await;
    assert_eq!(
        script
            .headers()
            .get(header::CONTENT_ENCODING)
            .map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );

    // The live stream's first event arrives unbuffered and uncompressed.
    let mut events = fetch(format!("/p/{project}/events")).await;
    assert_eq!(events.status(), StatusCode::OK);
    assert!(
        events.headers().get(header::CONTENT_ENCODING).is_none(),
        "{:?}",
        events.headers()
    );
    let first = tokio::time::timeout(Duration::from_secs(20), events.chunk())
        .await
        .expect("an event within 20 s")
        .expect("a chunk");
    assert!(first.is_some());
    mcp.stop().await;
}

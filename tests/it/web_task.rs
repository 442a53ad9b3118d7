//! The web board's people and talk (issue 17 items 3, 4, 6): assignees'
//! avatars on cards (initials without one) served to the same workspace
//! only; avatar upload on the account page with the checks of
//! `POST /avatars`; controls that follow the member's role, not only the
//! key's scopes; and the task page's comments and activity. Over HTTP with
//! the real binary (`serve --http`) on a real SQLite file, and in a real
//! headless Chromium for the upload, the comment form, escaping and the
//! live update.

use std::{io::Cursor, path::PathBuf, time::Duration};

use image::{ImageFormat, Rgb, RgbImage};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::{
    common::{
        self, DataDir, OWNER_EMAIL, Server,
        browser::{Browser, screenshot},
    },
    http_support::HttpServer,
    web_board::{Session, client, csrf_of, sign_in},
};

const WAIT: Duration = Duration::from_secs(20);

fn add_member(data: &DataDir, email: &str, name: &str, role: &str) -> String {
    data.cli_ok(&[
        "members",
        "add",
        "--workspace",
        "default",
        "--email",
        email,
        "--name",
        name,
        "--role",
        role,
    ]);
    user_id(data, email)
}

fn user_id(data: &DataDir, email: &str) -> String {
    data.rows("SELECT id FROM users WHERE email = ?", &[json!(email)])[0][0]
        .as_str()
        .expect("user id")
        .to_owned()
}

fn member_key(data: &DataDir, email: &str, scopes: &str) -> String {
    data.cli_ok(&[
        "keys",
        "create",
        "--workspace",
        "default",
        "--name",
        email,
        "--scopes",
        scopes,
        "--user",
        email,
    ])
    .trim()
    .to_owned()
}

/// A real picture (a gradient) in `format`.
fn picture(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, ((x * y) % 256) as u8])
    });
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), format)
        .expect("encode the test picture");
    out
}

fn stored_avatar(data: &DataDir, user: &str) -> PathBuf {
    data.path().join(format!("avatars/{user}/avatar.png"))
}

/// Posts the account page's form: `fields` as text parts, then the file.
async fn upload(
    server: &HttpServer,
    session: &Session,
    fields: &[(&str, &str)],
    file: Option<(&str, &str, &[u8])>,
) -> (StatusCode, String) {
    let boundary = "----vkTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    if let Some((filename, kind, bytes)) = file {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"{filename}\"\r\nContent-Type: {kind}\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let response = client()
        .post(server.url("/account/avatar"))
        .header(header::COOKIE, &session.cookie)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("upload");
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn cards_show_avatars_or_initials_and_avatars_stay_in_the_workspace() {
    let data = DataDir::new();
    let key = data.create_key("default", "person", "read,write");
    let alice = add_member(&data, "alice@example.com", "Alice Adams", "member");
    let bob = add_member(&data, "bob@example.com", "Bob Brown", "member");
    data.create_workspace("other", "eve@example.com");
    let outsider = data.create_key("other", "outsider", "read,write");
    let file = data.path().join("alice.png");
    std::fs::write(&file, picture(300, 200, ImageFormat::Png)).expect("write");
    data.cli_ok(&[
        "members",
        "set-avatar",
        "--workspace",
        "default",
        "--email",
        "alice@example.com",
        file.to_str().expect("utf-8"),
    ]);
    let server = HttpServer::start(data.path(), &[], &[]);
    let mcp = Server::in_process(&data, &["--no-runner"], &[]).await;
    let project = common::id(&mcp.call("create_project", json!({"name": "app"})).await);
    for (title, who) in [
        ("Alice's", &alice),
        ("Bob's", &bob),
        ("Alice's too", &alice),
    ] {
        let task = mcp.task(&project, title, json!({})).await;
        mcp.call("assign_task", json!({"task_id": task, "user_id": who}))
            .await;
    }

    let person = sign_in(&server, &key).await;
    let (status, board) = person.get(&server, &format!("/p/{project}")).await;
    assert_eq!(status, StatusCode::OK, "{board}");
    // Alice's picture, one URL for all her cards, named for screen readers.
    let src = board
        .split(&format!("src=\"/u/{alice}/avatar?v="))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no avatar of Alice on the board: {board}"));
    let url = format!("/u/{alice}/avatar?v={src}");
    assert_eq!(
        board.matches(&format!("src=\"{url}\"")).count(),
        2,
        "{board}"
    );
    assert!(board.contains("alt=\"Alice Adams\""), "{board}");
    assert!(board.contains("loading=\"lazy\""), "{board}");
    // Bob has none: his initials, with his name as the accessible name.
    assert!(
        board.contains("role=\"img\" aria-label=\"Bob Brown\">BB</span>"),
        "{board}"
    );

    // The picture itself: the stored PNG, cached, revalidated by ETag.
    let response = client()
        .get(server.url(&url))
        .header(header::COOKIE, &person.cookie)
        .send()
        .await
        .expect("avatar");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/png");
    assert!(
        response.headers()[header::CACHE_CONTROL]
            .to_str()
            .expect("cache")
            .starts_with("private, max-age="),
        "{:?}",
        response.headers()
    );
    let etag = response.headers()[header::ETAG].clone();
    let png = response.bytes().await.expect("bytes");
    assert_eq!(
        png.as_ref(),
        std::fs::read(stored_avatar(&data, &alice)).expect("stored")
    );
    let again = client()
        .get(server.url(&url))
        .header(header::COOKIE, &person.cookie)
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .expect("revalidate");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // Another workspace's member: not found, never the picture; nobody
    // signed in: no picture either.
    let stranger = sign_in(&server, &outsider).await;
    let (status, page) = stranger.get(&server, &url).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    assert!(page.contains("workspace 'other'"), "{page}");
    let (status, _) = Session {
        cookie: String::new(),
    }
    .get(&server, &url)
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = person.get(&server, &format!("/u/{bob}/avatar")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    mcp.stop().await;
}

#[tokio::test]
async fn the_account_page_uploads_an_avatar_and_refuses_bad_files_changing_nothing() {
    let data = DataDir::new();
    let key = data.create_key("default", "person", "read,write");
    let reader = data.create_key("default", "reader", "read");
    data.cli_ok(&["workspaces", "list"]);
    let owner = user_id(&data, OWNER_EMAIL);
    let server = HttpServer::start(data.path(), &[], &[]);
    let person = sign_in(&server, &key).await;
    let (status, page) = person.get(&server, "/account").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("enctype=\"multipart/form-data\"") && page.contains("for=\"avatar\""),
        "{page}"
    );
    let csrf = csrf_of(&page);
    let stored = stored_avatar(&data, &owner);

    let text = b"just some words, not a picture".to_vec();
    let mut truncated = picture(64, 64, ImageFormat::Png);
    truncated.truncate(60);
    let mut big = picture(64, 64, ImageFormat::Png);
    big.resize(1024 * 1024 + 10, 0);
    let huge = vec![0u8; 2 * 1024 * 1024];
    let png = picture(256, 160, ImageFormat::Png);
    let cases: [(&str, &str, &[u8], StatusCode, &str); 5] = [
        (
            "notes.txt",
            "text/plain",
            &text,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not a PNG, JPEG or WebP",
        ),
        (
            "cut.png",
            "image/png",
            &truncated,
            StatusCode::BAD_REQUEST,
            "could not be decoded",
        ),
        (
            "big.png",
            "image/png",
            &big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "the limit is 1 MB",
        ),
        (
            "huge.png",
            "image/png",
            &huge,
            StatusCode::PAYLOAD_TOO_LARGE,
            "the limit is 1 MB",
        ),
        (
            "photo.jpg",
            "image/jpeg",
            &png,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "its bytes are image/png",
        ),
    ];
    for (name, kind, bytes, want, says) in cases {
        let (status, page) = upload(
            &server,
            &person,
            &[("_csrf", &csrf)],
            Some((name, kind, bytes)),
        )
        .await;
        assert_eq!(status, want, "{name}: {page}");
        assert!(
            page.contains(says) && page.contains("role=\"alert\""),
            "{name}: {page}"
        );
        assert!(!stored.exists(), "{name} left an avatar");
    }
    // Without the CSRF token, or with only the read scope: refused.
    let (status, page) = upload(&server, &person, &[], Some(("a.png", "image/png", &png))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("CSRF"), "{page}");
    let looker = sign_in(&server, &reader).await;
    let (_, page) = looker.get(&server, "/account").await;
    assert!(!page.contains("enctype"), "{page}");
    let reader_csrf = csrf_of(&page);
    let (status, page) = upload(
        &server,
        &looker,
        &[("_csrf", &reader_csrf)],
        Some(("a.png", "image/png", &png)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("write scope"), "{page}");
    assert!(!stored.exists());

    // A real PNG: stored re-encoded, shown on the account page.
    let (status, page) = upload(
        &server,
        &person,
        &[("_csrf", &csrf)],
        Some(("me.png", "image/png", &png)),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
    let saved = std::fs::read(&stored).expect("stored avatar");
    let decoded = image::load_from_memory(&saved).expect("a picture");
    assert_eq!((decoded.width(), decoded.height()), (128, 128));
    let (_, page) = person.get(&server, "/account?saved=1").await;
    assert!(page.contains("Your avatar was saved."), "{page}");
    assert!(
        page.contains(&format!("src=\"/u/{owner}/avatar?v=")),
        "{page}"
    );
}

#[tokio::test]
async fn a_viewer_by_role_sees_no_controls_even_with_a_key_that_names_write() {
    let data = DataDir::new();
    add_member(&data, "pat@example.com", "Pat Viewer", "member");
    let pat = member_key(&data, "pat@example.com", "read,write,sessions");
    let alice = add_member(&data, "alice@example.com", "Alice Adams", "member");
    let alice_key = member_key(&data, "alice@example.com", "read,write,sessions");
    // Demoted after the key was made: the key still names write.
    data.cli_ok(&[
        "members",
        "set-role",
        "--workspace",
        "default",
        "pat@example.com",
        "--role",
        "viewer",
    ]);
    let server = HttpServer::start(data.path(), &[], &[]);
    let mcp = Server::in_process(&data, &["--no-runner"], &[]).await;
    let project = common::id(&mcp.call("create_project", json!({"name": "app"})).await);
    let task = mcp.task(&project, "Look, don't touch", json!({})).await;
    mcp.call("assign_task", json!({"task_id": task, "user_id": alice}))
        .await;
    mcp.call(
        "add_comment",
        json!({"task_id": task, "body": "The owner's note"}),
    )
    .await;

    let viewer = sign_in(&server, &pat).await;
    let (_, board) = viewer.get(&server, &format!("/p/{project}")).await;
    assert!(board.contains("Look, don"), "{board}");
    assert!(
        !board.contains("class=\"new-task\"") && !board.contains("draggable"),
        "{board}"
    );
    assert!(board.contains("data-edit=\"0\""), "{board}");
    let (_, page) = viewer.get(&server, &format!("/t/{task}")).await;
    assert!(
        page.contains("The owner&#39;s note") || page.contains("The owner's note"),
        "{page}"
    );
    for control in [
        "Edit task",
        "Add subtask",
        "Start session",
        "comment-form",
        "Save comment",
        "/delete",
    ] {
        assert!(!page.contains(control), "a viewer sees {control}: {page}");
    }
    // Its forged posts, with its own valid CSRF token, are refused by role.
    let csrf = csrf_of(&page);
    let (status, refusal) = viewer
        .post(
            &server,
            &format!("/p/{project}/tasks"),
            &[("title", "forged"), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refusal}");
    assert!(
        refusal.contains("member role") && refusal.contains("you are viewer"),
        "{refusal}"
    );
    let (status, refusal) = viewer
        .post(
            &server,
            &format!("/t/{task}/comments"),
            &[("body", "forged"), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refusal}");
    let (status, _) = viewer
        .post(
            &server,
            &format!("/t/{task}/move"),
            &[("status", "done"), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let now = mcp.call("get_task", json!({"task_id": task})).await;
    assert_eq!(
        (now["status"].as_str(), now["comment_count"].as_i64()),
        (Some("todo"), Some(1))
    );
    assert_eq!(
        mcp.call("list_tasks", json!({"project_id": project})).await["total"],
        1
    );

    // A member with the same kind of key sees them all.
    let member = sign_in(&server, &alice_key).await;
    let (_, board) = member.get(&server, &format!("/p/{project}")).await;
    assert!(board.contains("class=\"new-task\"") && board.contains("draggable"));
    let (_, page) = member.get(&server, &format!("/t/{task}")).await;
    for control in ["Edit task", "Add subtask", "Start session", "comment-form"] {
        assert!(page.contains(control), "a member misses {control}: {page}");
    }
    // … but not the edit of the owner's comment (its author or an admin only).
    assert!(!page.contains("Save comment"), "{page}");
    mcp.stop().await;
}

/// The id of the only comment whose body is `body`.
fn comment_id(data: &DataDir, body: &str) -> String {
    data.rows(
        "SELECT id FROM task_comments WHERE body = ?",
        &[json!(body)],
    )[0][0]
        .as_str()
        .expect("comment id")
        .to_owned()
}

#[tokio::test]
async fn the_task_page_lists_adds_edits_and_deletes_comments_and_shows_activity() {
    let data = DataDir::new();
    let alice = add_member(&data, "alice@example.com", "Alice Adams", "member");
    let alice_key = member_key(&data, "alice@example.com", "read,write");
    add_member(&data, "bob@example.com", "Bob Brown", "member");
    let bob_key = member_key(&data, "bob@example.com", "read,write");
    add_member(&data, "carol@example.com", "Carol Admin", "admin");
    let carol_key = member_key(&data, "carol@example.com", "admin");
    let server = HttpServer::start(data.path(), &[], &[]);
    let mcp = Server::in_process(&data, &["--no-runner"], &[]).await;
    let project = common::id(&mcp.call("create_project", json!({"name": "app"})).await);
    let task = mcp.task(&project, "Discuss me", json!({})).await;
    mcp.call(
        "update_task",
        json!({"task_id": task, "status": "inprogress"}),
    )
    .await;

    // Alice comments through the form: markdown rendered, HTML as text.
    let a = sign_in(&server, &alice_key).await;
    let (_, page) = a.get(&server, &format!("/t/{task}")).await;
    assert!(page.contains("No comments yet."), "{page}");
    let csrf = csrf_of(&page);
    let body = "Looks **good** <img src=x onerror=alert(1)>";
    let (status, _) = a
        .post(
            &server,
            &format!("/t/{task}/comments"),
            &[("body", ""), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = a
        .post(&server, &format!("/t/{task}/comments"), &[("body", body)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token");
    let (status, _) = a
        .post(
            &server,
            &format!("/t/{task}/comments"),
            &[("body", body), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let id = comment_id(&data, body);
    let (_, page) = a.get(&server, &format!("/t/{task}")).await;
    assert!(page.contains("<strong>good</strong>"), "{page}");
    assert!(
        page.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{page}"
    );
    assert!(!page.contains("<img src=x"), "{page}");
    assert!(
        page.contains("<strong class=\"author\">Alice Adams</strong>"),
        "{page}"
    );
    assert!(
        page.contains(&format!("action=\"/c/{id}\"")),
        "her own: editable"
    );
    // Alice edits it: marked edited.
    let (status, _) = a
        .post(
            &server,
            &format!("/c/{id}"),
            &[("body", "Looks *fine*"), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = a.get(&server, &format!("/t/{task}")).await;
    assert!(
        page.contains("<em>fine</em>") && page.contains("(edited)"),
        "{page}"
    );

    // Bob may not touch Alice's comment: no controls, and a forged edit fails.
    let b = sign_in(&server, &bob_key).await;
    let (_, page) = b.get(&server, &format!("/t/{task}")).await;
    assert!(!page.contains(&format!("action=\"/c/{id}")), "{page}");
    let bob_csrf = csrf_of(&page);
    let (status, refusal) = b
        .post(
            &server,
            &format!("/c/{id}"),
            &[("body", "mine now"), ("_csrf", &bob_csrf)],
        )
        .await;
    assert!(status.is_client_error(), "{status} {refusal}");
    let (status, _) = b
        .post(&server, &format!("/c/{id}/delete"), &[("_csrf", &bob_csrf)])
        .await;
    assert!(status.is_client_error(), "{status}");
    assert_eq!(
        data.rows(
            "SELECT body, deleted_at FROM task_comments WHERE id = ?",
            &[json!(id)]
        ),
        [[json!("Looks *fine*"), Value::Null]]
    );

    // An agent's comment (written in its member's name) says so.
    data.exec(&format!(
        "INSERT INTO task_comments (id, workspace_id, task_id, author_id, body, by_agent, created_at) \
         SELECT '0193aaaa-0000-7000-8000-000000000001', workspace_id, id, '{alice}', 'Done by the agent', 1, \
         '2026-12-01T10:00:00.000Z' FROM tasks WHERE id = '{task}'"
    ));
    // Carol, an admin, may delete anyone's: it shows as deleted.
    let c = sign_in(&server, &carol_key).await;
    let (_, page) = c.get(&server, &format!("/t/{task}")).await;
    assert!(page.contains("class=\"badge agent\""), "{page}");
    assert!(
        page.contains(&format!("action=\"/c/{id}/delete\"")),
        "{page}"
    );
    let carol_csrf = csrf_of(&page);
    let (status, _) = c
        .post(
            &server,
            &format!("/c/{id}/delete"),
            &[("_csrf", &carol_csrf)],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, page) = c.get(&server, &format!("/t/{task}")).await;
    assert!(
        !page.contains("Looks"),
        "deleted comments are not listed: {page}"
    );

    // The activity: newest first, one line each, naming who did it.
    let feed = page
        .split("<ol class=\"activity\"")
        .nth(1)
        .expect("an activity list")
        .split("</ol>")
        .next()
        .expect("its end")
        .to_owned();
    let lines: Vec<&str> = feed.split("<li>").skip(1).collect();
    assert!(lines.len() >= 4, "{feed}");
    assert!(lines[0].contains("carol@example.com"), "{feed}");
    assert!(lines[0].contains("delete"), "{feed}");
    assert!(
        lines.last().expect("oldest").contains("create"),
        "the oldest is the task's creation: {feed}"
    );

    // Paged: 50 comments a page, with a link to the rest.
    for i in 0..52 {
        mcp.call(
            "add_comment",
            json!({"task_id": task, "body": format!("note number {i}")}),
        )
        .await;
    }
    let (_, page) = c.get(&server, &format!("/t/{task}")).await;
    // Oldest first: the agent's, then notes 0 to 48.
    assert!(
        page.contains("note number 48") && !page.contains("note number 49"),
        "the first page"
    );
    let next = page
        .split("href=\"/t/")
        .find_map(|rest| {
            let href = rest.split('"').next()?;
            href.contains("comments=")
                .then(|| format!("/t/{}", href.replace("&amp;", "&")))
        })
        .expect("a link to later comments");
    let (status, rest) = c.get(&server, &next).await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    assert!(
        rest.contains("note number 49")
            && rest.contains("note number 51")
            && !rest.contains("note number 48"),
        "{rest}"
    );
    assert!(rest.contains("First comments"), "{rest}");
    mcp.stop().await;
}

#[tokio::test]
async fn in_a_browser_an_uploaded_avatar_shows_on_cards_and_comments_arrive_live() {
    let data = DataDir::new();
    let key = data.create_key("default", "person", "read,write");
    data.cli_ok(&["workspaces", "list"]);
    let owner = user_id(&data, OWNER_EMAIL);
    add_member(&data, "bob@example.com", "Bob Brown", "member");
    let bob = user_id(&data, "bob@example.com");
    let server = HttpServer::start(data.path(), &[], &[]);
    let mcp = Server::in_process(&data, &["--no-runner"], &[]).await;
    let project = common::id(
        &mcp.call("create_project", json!({"name": "Checkout"}))
            .await,
    );
    let mine = mcp
        .task(&project, "Write the payment form", json!({}))
        .await;
    mcp.call("assign_task", json!({"task_id": mine, "user_id": owner}))
        .await;
    let his = mcp.task(&project, "Review the copy", json!({})).await;
    mcp.call("assign_task", json!({"task_id": his, "user_id": bob}))
        .await;

    let browser = Browser::start().await;
    browser.sign_in(&server.url("/signin"), &key, WAIT).await;
    // Upload a real PNG from the account page.
    let file = data.path().join("me.png");
    std::fs::write(&file, picture(240, 240, ImageFormat::Png)).expect("write");
    let link = browser.find("a[href='/account']").await;
    browser.click(&link).await;
    let input = browser.find("#avatar").await;
    browser
        .send_keys(&input, file.to_str().expect("utf-8"))
        .await;
    let submit = browser.find("form[action='/account/avatar'] button").await;
    browser.click(&submit).await;
    browser
        .wait_for(
            "the saved notice",
            "return !!document.querySelector('.notice') && document.querySelector('.notice').textContent.includes('saved');",
            WAIT,
        )
        .await;
    browser.screenshot(&screenshot("account")).await;

    // The board: the picture on my card, loaded; Bob's initials on his.
    browser.goto(&server.url(&format!("/p/{project}"))).await;
    let loaded = browser
        .wait_for(
            "my avatar, loaded, on my card",
            &format!(
                "const img = document.querySelector(\".card[data-id='{mine}'] img.avatar\");
                 return img && img.complete && img.naturalWidth === 128 ? img.alt : null;"
            ),
            WAIT,
        )
        .await;
    assert!(
        loaded.as_str().is_some_and(|alt| !alt.is_empty()),
        "{loaded}"
    );
    let initials = browser
        .execute(
            &format!("const s = document.querySelector(\".card[data-id='{his}'] .avatar.initials\"); return s && [s.textContent, s.getAttribute('aria-label')];"),
            vec![],
        )
        .await;
    assert_eq!(initials, json!(["BB", "Bob Brown"]));
    browser.screenshot(&screenshot("board-avatars")).await;

    // The task page: a comment through the form shows, its HTML as text.
    browser.goto(&server.url(&format!("/t/{mine}"))).await;
    let text = browser.find("#comment-body").await;
    browser
        .send_keys(
            &text,
            "Ship **today** <img src=x onerror=\"window.__xss=1\">",
        )
        .await;
    let send = browser.find(".comment-form button").await;
    browser.click(&send).await;
    browser
        .wait_for(
            "the new comment",
            "return [...document.querySelectorAll('.comment-body')].some(b => b.textContent.includes('<img src=x'));",
            WAIT,
        )
        .await;
    let seen = browser
        .execute(
            "return [document.querySelectorAll('.comment-body img').length, !!window.__xss, document.querySelector('.comment-body strong').textContent];",
            vec![],
        )
        .await;
    assert_eq!(seen, json!([0, false, "today"]));
    browser
        .execute("window.__sameDocument = true;", vec![])
        .await;
    // An MCP client (an agent) comments: it shows without a reload.
    mcp.call(
        "add_comment",
        json!({"task_id": mine, "body": "Noted by an agent"}),
    )
    .await;
    browser
        .wait_for(
            "the MCP client's comment on the open page",
            "return window.__sameDocument === true && [...document.querySelectorAll('.comment-body')].some(b => b.textContent.includes('Noted by an agent'));",
            WAIT,
        )
        .await;
    browser
        .wait_for(
            "its line in the activity",
            "return document.querySelectorAll('.activity li').length >= 3;",
            WAIT,
        )
        .await;
    browser
        .execute(
            "document.getElementById('comments-h').scrollIntoView();",
            vec![],
        )
        .await;
    browser.screenshot(&screenshot("comments")).await;
    mcp.stop().await;
}

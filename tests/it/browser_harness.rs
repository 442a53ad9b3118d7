//! The browser harness itself ([`crate::common::browser`]): a real headless
//! Chromium under chromedriver loads a data: URL and a page served on
//! loopback, and the test reads and drives its DOM.

use std::time::Duration;

use axum::{Router, response::Html, routing::get};
use serde_json::json;

use crate::common::browser::{Browser, BrowserOptions};

const PAGE: &str = r#"<!doctype html>
<title>harness</title>
<label>Name <input id="name"></label>
<button id="go">Go</button>
<p id="out">idle</p>
<iframe id="inner" srcdoc="<p id=framed>inside the frame</p>"></iframe>
<script>
  document.getElementById("go").addEventListener("click", () => {
    const name = document.getElementById("name").value;
    setTimeout(() => { document.getElementById("out").textContent = "hello " + name; }, 50);
  });
</script>"#;

#[tokio::test]
async fn reads_a_data_url() {
    let browser = Browser::start().await;
    browser
        .goto("data:text/html,<h1 id=t>Board</h1><p class=c>a</p><p class=c>b</p>")
        .await;
    let heading = browser.find("#t").await;
    assert_eq!(browser.text(&heading).await, "Board");
    assert_eq!(browser.find_all("p.c").await.len(), 2);
    assert!(browser.try_find("#missing").await.is_none());
    let sum = browser
        .execute(
            "return arguments[0] + arguments[1];",
            vec![json!(2), json!(3)],
        )
        .await;
    assert_eq!(sum, json!(5));
    let later = browser
        .execute_async(
            "const done = arguments[arguments.length - 1]; setTimeout(() => done('later'), 10);",
            vec![],
        )
        .await;
    assert_eq!(later, json!("later"));
}

#[tokio::test]
async fn drives_a_loopback_page() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new().route("/", get(|| async { Html(PAGE) }));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let browser = Browser::with(BrowserOptions {
        window: (375, 700),
        ..BrowserOptions::default()
    })
    .await;
    browser.goto(&format!("http://{addr}/")).await;
    let input = browser.find("#name").await;
    browser.send_keys(&input, "board").await;
    browser.click(&browser.find("#go").await).await;
    let text = browser
        .wait_for(
            "the click handler's text",
            "const t = document.getElementById('out').textContent; return t !== 'idle' && t;",
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(text, json!("hello board"));
    // Keys typed through input actions land in the focused element.
    browser
        .execute(
            "document.getElementById('name').value = ''; document.getElementById('name').focus();",
            vec![],
        )
        .await;
    browser
        .actions(json!([{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": "o"}, {"type": "keyUp", "value": "o"},
            {"type": "keyDown", "value": "k"}, {"type": "keyUp", "value": "k"},
        ]}]))
        .await;
    let typed = browser
        .execute("return document.getElementById('name').value;", vec![])
        .await;
    assert_eq!(typed, json!("ok"));

    let frame = browser.find("#inner").await;
    browser.enter_frame(&frame).await;
    assert_eq!(
        browser.text(&browser.find("#framed").await).await,
        "inside the frame"
    );
    browser.leave_frames().await;
    assert!(
        browser.try_find("#framed").await.is_none(),
        "back in the top document"
    );

    let width = browser.execute("return window.innerWidth;", vec![]).await;
    assert!(width.as_u64().expect("width") <= 375, "width {width}");

    let dir = tempfile::tempdir().expect("dir");
    let shot = dir.path().join("page.png");
    browser.screenshot(&shot).await;
    let png = std::fs::read(&shot).expect("screenshot written");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG file");
}

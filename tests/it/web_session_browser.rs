//! The session page's buttons and log in a real headless Chromium (see
//! [`crate::common::browser`]): start a session from the task page with a
//! chosen executor and prompt, watch its log stream without the page
//! shifting, stop following by scrolling up, stop it; start another that
//! finishes, merge it with a chosen strategy (the base branch of a real git
//! repository gets the commit, the task goes done); page a 200 MB log back
//! to its start and forth in a window that stays small. Screenshots go to
//! docs/screenshots/.

use std::{path::PathBuf, time::Duration};

use serde_json::json;

use crate::{
    common::{
        self, DataDir, Server,
        browser::{Browser, screenshot},
        sessions::{config, git, git_repo, wait_finished, wait_output},
    },
    http_support::HttpServer,
};

const WAIT: Duration = Duration::from_secs(30);

struct Setup {
    data: DataDir,
    repo: PathBuf,
    web: HttpServer,
    mcp: Server,
    project: String,
    browser: Browser,
}

/// A web server that runs sessions on a real git repository, a browser
/// signed in to it with the `sessions` scope.
async fn setup() -> Setup {
    let data = DataDir::new();
    let key = data.create_key("default", "person", "read,write,sessions");
    let repo = git_repo(data.path());
    let config = config(&data, "", "");
    let config = config.to_str().expect("utf-8").to_owned();
    let web = HttpServer::start(data.path(), &["--config", &config], &[]);
    let mcp = Server::in_process(&data, &["--no-runner", "--config", &config], &[]).await;
    let project = common::id(
        &mcp.call(
            "create_project",
            json!({"name": "app", "repo_path": repo.to_str()}),
        )
        .await,
    );
    let browser = Browser::start().await;
    browser.sign_in(&web.url("/"), &key, WAIT).await;
    Setup {
        data,
        repo,
        web,
        mcp,
        project,
        browser,
    }
}

/// The id in the browser's `/s/{id}` URL.
async fn session_of(browser: &Browser) -> String {
    browser
        .wait_for(
            "the session page",
            "return location.pathname.startsWith('/s/') && !!document.getElementById('log');",
            WAIT,
        )
        .await;
    let url = browser.url().await;
    url.rsplit('/').next().expect("id").to_owned()
}

/// Counts layout shifts from now on (not those of the page's load).
const WATCH_SHIFTS: &str = "window.__shift = 0; window.__shifts = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) { if (!e.hadRecentInput) { window.__shift += e.value; window.__shifts.push(e.sources.map(s => s.node && (s.node.id || s.node.className || s.node.nodeName))); } } })
  .observe({ type: 'layout-shift' });";

#[tokio::test]
async fn start_watch_stop_then_merge_in_a_browser() {
    let t = setup().await;
    let b = &t.browser;
    let task = t
        .mcp
        .task(&t.project, "Count in the browser", json!({}))
        .await;
    b.goto(&t.web.url(&format!("/t/{task}"))).await;
    b.execute(
        "document.getElementById('executor').value = 'slow';",
        vec![],
    )
    .await;
    let prompt = b.find("#prompt").await;
    b.send_keys(&prompt, "Count slowly, out loud").await;
    let start = b
        .find("form[action$='/sessions'] button[type=submit]")
        .await;
    b.click(&start).await;
    let id = session_of(b).await;
    b.find(".notice.ok").await;
    assert_eq!(
        b.execute(
            "return PerformanceObserver.supportedEntryTypes.includes('layout-shift');",
            vec![]
        )
        .await,
        json!(true),
        "Chromium reports layout shifts"
    );
    b.execute(WATCH_SHIFTS, vec![]).await;

    // The log streams in the same page, following the tail; nothing on
    // the page moves meanwhile.
    b.execute("window.__sameDocument = true;", vec![]).await;
    b.wait_for(
        "streamed lines",
        "return document.getElementById('log').textContent.includes('agent: line 30');",
        WAIT,
    )
    .await;
    let session = wait_output(&t.mcp, &id, "agent: line 30").await;
    assert_eq!(session["prompt"], "Count slowly, out loud");
    assert_eq!(session["executor"], "slow");
    let shift = b
        .execute(
            "return [window.__sameDocument === true, window.__shift, window.__shifts];",
            vec![],
        )
        .await;
    assert_eq!(shift[0], json!(true), "the page reloaded");
    assert_eq!(
        shift[1],
        json!(0),
        "layout shifts while the log streamed: {shift}"
    );
    // The observer does see a shift when there is one.
    b.execute(
        "const d = document.createElement('div'); d.id = 'shifter'; d.textContent = 'x'; d.className = 'notice'; document.querySelector('main').prepend(d);",
        vec![],
    )
    .await;
    b.wait_for("a layout shift seen", "return window.__shift > 0;", WAIT)
        .await;
    b.execute("document.getElementById('shifter').remove();", vec![])
        .await;
    let bottom = "const l = document.getElementById('log'); return l.scrollHeight - l.scrollTop - l.clientHeight < 4;";
    assert_eq!(
        b.execute(bottom, vec![]).await,
        json!(true),
        "it follows the tail"
    );

    // Scrolling up stops following: new lines leave the view alone.
    b.execute("document.getElementById('log').scrollTop = 0;", vec![])
        .await;
    b.wait_for(
        "following off after scrolling up",
        "return document.getElementById('log-follow').checked === false;",
        WAIT,
    )
    .await;
    let seen = b
        .execute(
            "return document.getElementById('log').textContent.length;",
            vec![],
        )
        .await;
    b.wait_for(
        "more lines",
        &format!("return document.getElementById('log').textContent.length > {seen};"),
        WAIT,
    )
    .await;
    assert_eq!(
        b.execute("return document.getElementById('log').scrollTop;", vec![])
            .await,
        json!(0),
        "the view stayed where the person put it"
    );
    // Following again goes to the end.
    let follow = b.find("#log-follow").await;
    b.click(&follow).await;
    b.wait_for("back at the end", bottom, WAIT).await;

    // Stop: the page says so and offers a follow-up instead.
    let stop = b.find(&format!("form[action='/s/{id}/stop'] button")).await;
    b.click(&stop).await;
    b.wait_for(
        "the stopped session",
        "return document.getElementById('session-status').textContent === 'stopped' && !!document.querySelector('.notice.ok');",
        WAIT,
    )
    .await;
    assert!(
        b.try_find(&format!("form[action='/s/{id}/stop']"))
            .await
            .is_none()
    );
    b.find(&format!("form[action='/s/{id}/follow-up'] textarea"))
        .await;
    assert_eq!(wait_finished(&t.mcp, &id).await["status"], "stopped");

    // Another task whose session finishes: merge it from its page.
    let task = t.mcp.task(&t.project, "Merge me", json!({})).await;
    b.goto(&t.web.url(&format!("/t/{task}"))).await;
    let start = b
        .find("form[action$='/sessions'] button[type=submit]")
        .await;
    b.click(&start).await;
    let id = session_of(b).await;
    b.wait_for(
        "the finished session's merge button",
        &format!("return document.getElementById('session-status').textContent === 'completed' && !!document.querySelector(\"form[action='/s/{id}/merge']\");"),
        Duration::from_secs(90),
    )
    .await;
    let before = git(&t.repo, &["rev-parse", "main"]);
    b.execute(
        "document.getElementById('strategy').value = 'merge';",
        vec![],
    )
    .await;
    let merge = b
        .find(&format!("form[action='/s/{id}/merge'] button"))
        .await;
    b.click(&merge).await;
    let notice = b
        .wait_for(
            "the merge's notice",
            "const n = document.querySelector('.notice.ok'); return n && n.textContent.includes('merged into main') ? n.textContent : null;",
            WAIT,
        )
        .await;
    assert!(
        notice.as_str().is_some_and(|n| n.contains("(merge)")),
        "{notice}"
    );
    let after = git(&t.repo, &["rev-parse", "main"]);
    assert_ne!(before, after, "main moved");
    let notes = git(&t.repo, &["show", "main:agent-notes.txt"]);
    assert!(
        notes.contains("Merge me"),
        "the session's commit is on main: {notes}"
    );
    let parents = git(&t.repo, &["rev-list", "--parents", "-n", "1", "main"]);
    assert_eq!(
        parents.split_whitespace().count(),
        3,
        "a merge commit: {parents}"
    );
    let task_now = t.mcp.call("get_task", json!({"task_id": task})).await;
    assert_eq!(task_now["status"], "done");
    assert!(
        b.try_find(&format!("form[action='/s/{id}/merge']"))
            .await
            .is_none()
    );
    // The top of the page: the facts, the merge's notice, the buttons.
    b.set_window(1280, 700).await;
    b.execute("window.scrollTo(0, 0);", vec![]).await;
    b.screenshot(&screenshot("session-merged")).await;
    t.mcp.stop().await;
}

#[tokio::test]
async fn a_200_mb_log_pages_back_to_its_start() {
    use std::io::Write;
    let t = setup().await;
    let b = &t.browser;
    let task = t.mcp.task(&t.project, "Log a lot", json!({})).await;
    let session = t.mcp.call("start_session", json!({"task_id": task})).await;
    let id = common::id(&session);
    wait_finished(&t.mcp, &id).await;
    // 200 MB of coloured lines in place of its log.
    let path = t.data.path().join("logs").join(&id).join("execution.log");
    assert!(path.exists(), "{}", path.display());
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("log"));
    let mut size = 0u64;
    let mut lines = 0u64;
    while size < 200 * 1024 * 1024 {
        lines += 1;
        let line = format!("\u{1b}[32mline {lines:09}\u{1b}[0m of a 200 MB log\n");
        file.write_all(line.as_bytes()).expect("write");
        size += line.len() as u64;
    }
    file.flush().expect("flush");
    drop(file);

    b.goto(&t.web.url(&format!("/s/{id}"))).await;
    let log_text = "return document.getElementById('log').textContent;";
    let text = b.execute(log_text, vec![]).await;
    let text = text.as_str().expect("text");
    assert!(
        text.contains(&format!("line {lines:09}")),
        "the tail is shown"
    );
    assert!(text.len() < 100 * 1024, "only a page: {}", text.len());
    let range = b.text(&b.find("#log-range").await).await;
    assert!(range.contains("of 209,7"), "{range}");
    let top = "const r = document.getElementById('log').getBoundingClientRect(); return [r.top + window.scrollY, r.height];";
    let place = b.execute(top, vec![]).await;

    // Back, page by page: the window keeps at most about a megabyte.
    let start_of = "return Number(document.getElementById('log').dataset.start);";
    for _ in 0..24 {
        let was = b.execute(start_of, vec![]).await.as_u64().expect("start");
        let earlier = b.find("#log-earlier").await;
        b.click(&earlier).await;
        b.wait_for(
            "an earlier page",
            &format!("return Number(document.getElementById('log').dataset.start) < {was};"),
            WAIT,
        )
        .await;
    }
    let shown = b
        .execute(
            "const l = document.getElementById('log'); return [l.textContent.length, Number(l.dataset.end) - Number(l.dataset.start)];",
            vec![],
        )
        .await;
    assert!(
        shown[1].as_u64().is_some_and(|n| n <= 1024 * 1024),
        "the window stays small: {shown}"
    );
    let text = b.execute(log_text, vec![]).await;
    assert!(
        !text
            .as_str()
            .expect("text")
            .contains(&format!("line {lines:09}")),
        "the newest pages made room"
    );
    assert_eq!(
        b.execute("return [document.getElementById('log-later').disabled, document.getElementById('log-last').disabled];", vec![])
            .await,
        json!([false, false])
    );

    // To the start, then on.
    let first = b.find("#log-first").await;
    b.click(&first).await;
    b.wait_for(
        "the first line",
        "return document.getElementById('log').textContent.startsWith('line 000000001 of a 200 MB log');",
        WAIT,
    )
    .await;
    let range = b.text(&b.find("#log-range").await).await;
    assert!(range.starts_with("Bytes 0\u{2013}"), "{range}");
    assert_eq!(
        b.execute(
            "return document.getElementById('log-earlier').disabled;",
            vec![]
        )
        .await,
        json!(true)
    );
    let later = b.find("#log-later").await;
    b.click(&later).await;
    b.wait_for(
        "the page after the first",
        "return document.querySelectorAll('#log .pg').length === 2 && document.getElementById('log').textContent.includes('line 000002000 ');",
        WAIT,
    )
    .await;
    b.execute("document.getElementById('log-h').scrollIntoView();", vec![])
        .await;
    b.screenshot(&screenshot("session-log")).await;
    // And back to the tail.
    let last = b.find("#log-last").await;
    b.click(&last).await;
    b.wait_for(
        "the tail again",
        &format!("return document.getElementById('log').textContent.includes('line {lines:09}') && document.getElementById('log-follow').checked;"),
        WAIT,
    )
    .await;
    assert_eq!(b.execute(top, vec![]).await, place, "the log never moved");

    // 375 px wide: the session page does not scroll sideways.
    b.set_window(375, 800).await;
    b.goto(&t.web.url(&format!("/s/{id}"))).await;
    b.find("#log .pg").await;
    let widths = b
        .execute(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth];",
            vec![],
        )
        .await;
    assert!(
        widths[0].as_i64() <= widths[1].as_i64(),
        "horizontal scroll at 375 px: {widths}"
    );
    t.mcp.stop().await;
}

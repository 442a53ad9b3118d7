//! A headless Chromium for browser tests, driven over the W3C WebDriver
//! protocol: [`Browser::start`] runs Debian's `chromedriver` (package
//! `chromium-driver`, which `scripts/test` installs) on a free loopback port
//! and opens one headless Chromium session in its own profile directory.
//! The client is a few JSON requests over reqwest; nothing is mocked.
//!
//! Waiting is [`Browser::wait_for`]: a condition polled until a deadline,
//! never a fixed sleep. Dropping a [`Browser`] ends the session (Chromium
//! exits) and then chromedriver.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

/// The key of an element reference in WebDriver replies (fixed by the spec).
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long [`Browser::wait_for`] and element lookups wait by default.
pub const WAIT: Duration = Duration::from_secs(15);

/// Where a browser test saves screenshot `name`: `docs/screenshots/`, which
/// the README shows.
pub fn screenshot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs/screenshots")
        .join(format!("{name}.png"))
}

/// The chromedriver binary: `VK_TEST_CHROMEDRIVER`, else Debian's.
pub fn chromedriver() -> PathBuf {
    std::env::var_os("VK_TEST_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"))
}

/// The Chromium binary: `VK_TEST_CHROMIUM`, else Debian's.
pub fn chromium() -> PathBuf {
    std::env::var_os("VK_TEST_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Options of a new browser session.
#[derive(Debug, Clone)]
pub struct BrowserOptions {
    /// The window's inner size in CSS pixels (width, height).
    pub window: (u32, u32),
    /// Extra Chromium command-line switches.
    pub args: Vec<String>,
}

impl Default for BrowserOptions {
    fn default() -> Self {
        BrowserOptions {
            window: (1280, 900),
            args: Vec::new(),
        }
    }
}

/// An element found on the page (a WebDriver element reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element(pub String);

impl Element {
    /// The element as a script argument or frame id.
    pub fn json(&self) -> Value {
        json!({ ELEMENT_KEY: self.0 })
    }
}

/// A WebDriver error reply: its `error` code and message.
#[derive(Debug, Clone)]
pub struct WebDriverError {
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

/// One headless Chromium session and the chromedriver that runs it.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`
    session: String,
    driver: Child,
    profile: tempfile::TempDir,
}

impl Browser {
    /// A headless Chromium with a 1280×900 window.
    pub async fn start() -> Browser {
        Self::with(BrowserOptions::default()).await
    }

    /// A headless Chromium with these options.
    pub async fn with(options: BrowserOptions) -> Browser {
        let driver_bin = chromedriver();
        assert!(
            driver_bin.is_file(),
            "browser tests need chromedriver at {}: run scripts/test, or \
             `apt-get install -y chromium chromium-driver`",
            driver_bin.display()
        );
        // reqwest is built without a TLS provider of its own (plain HTTP
        // here, but a client needs one installed).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let profile = tempfile::tempdir().expect("profile dir");
        let port = free_port();
        // Nothing may panic between the spawn and `Browser` owning the
        // child: its Drop is what stops chromedriver.
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", driver_bin.display()));
        let mut browser = Browser {
            http,
            session: String::new(),
            driver,
            profile,
        };
        let base = format!("http://127.0.0.1:{port}");
        browser.wait_driver_ready(&base).await;

        let (width, height) = options.window;
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", browser.profile.path().display()),
        ];
        args.extend(options.args);
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium(),
                        "args": args,
                    },
                },
            },
        });
        let reply = browser
            .request(
                reqwest::Method::POST,
                &format!("{base}/session"),
                capabilities,
            )
            .await
            .unwrap_or_else(|e| panic!("chromedriver did not open a Chromium session: {e}"));
        let id = reply["sessionId"].as_str().expect("sessionId").to_owned();
        browser.session = format!("{base}/session/{id}");
        browser.set_window(width, height).await;
        browser
    }

    async fn wait_driver_ready(&mut self, base: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(reply) = self.http.get(format!("{base}/status")).send().await
                && let Ok(status) = reply.json::<Value>().await
                && status["value"]["ready"] == json!(true)
            {
                return;
            }
            if let Ok(Some(exit)) = self.driver.try_wait() {
                panic!("chromedriver exited before it was ready: {exit}");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver was not ready on {base} within {WAIT:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Value,
    ) -> Result<Value, WebDriverError> {
        let mut request = self.http.request(method.clone(), url);
        if method != reqwest::Method::GET && method != reqwest::Method::DELETE {
            request = request.json(&body);
        }
        let reply = request.send().await.map_err(|e| WebDriverError {
            error: "transport".to_owned(),
            message: format!("{method} {url}: {e}"),
        })?;
        let status = reply.status();
        let value: Value = reply.json().await.map_err(|e| WebDriverError {
            error: "transport".to_owned(),
            message: format!("{method} {url}: reply is not JSON: {e}"),
        })?;
        let value = value.get("value").cloned().unwrap_or(Value::Null);
        if status.is_success() {
            Ok(value)
        } else {
            Err(WebDriverError {
                error: value["error"].as_str().unwrap_or("unknown").to_owned(),
                message: value["message"].as_str().unwrap_or_default().to_owned(),
            })
        }
    }

    /// A command of this session (`path` after `/session/ID`).
    pub async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Result<Value, WebDriverError> {
        let url = format!("{}{path}", self.session);
        self.request(method, &url, body).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, body)
            .await
            .unwrap_or_else(|e| panic!("WebDriver POST {path}: {e}"))
    }

    /// Sets the window's outer size.
    pub async fn set_window(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({"width": width, "height": height}))
            .await;
    }

    /// Loads a URL and waits for the document to load.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// The current URL.
    pub async fn url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", Value::Null)
            .await
            .unwrap_or_else(|e| panic!("WebDriver GET /url: {e}"))
            .as_str()
            .expect("url")
            .to_owned()
    }

    /// The first element matching a CSS selector now, if any.
    pub async fn try_find(&self, css: &str) -> Option<Element> {
        match self
            .command(
                reqwest::Method::POST,
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await
        {
            Ok(found) => Some(Element(
                found[ELEMENT_KEY].as_str().expect("element id").to_owned(),
            )),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("find {css:?}: {e}"),
        }
    }

    /// The first element matching a CSS selector, waiting for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(element) = self.try_find(css).await {
                return element;
            }
            assert!(
                Instant::now() < deadline,
                "no element matches {css:?} within {WAIT:?} on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every element matching a CSS selector now.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.post("/elements", json!({"using": "css selector", "value": css}))
            .await
            .as_array()
            .expect("elements")
            .iter()
            .map(|e| Element(e[ELEMENT_KEY].as_str().expect("element id").to_owned()))
            .collect()
    }

    /// Clicks an element (scrolled into view first, as a user would).
    pub async fn click(&self, element: &Element) {
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await;
    }

    /// Types text into an element (WebDriver key codes such as "\u{E007}"
    /// for Enter are allowed).
    pub async fn send_keys(&self, element: &Element, text: &str) {
        self.post(
            &format!("/element/{}/value", element.0),
            json!({ "text": text }),
        )
        .await;
    }

    /// An element's rendered text.
    pub async fn text(&self, element: &Element) -> String {
        self.command(
            reqwest::Method::GET,
            &format!("/element/{}/text", element.0),
            Value::Null,
        )
        .await
        .unwrap_or_else(|e| panic!("element text: {e}"))
        .as_str()
        .expect("text")
        .to_owned()
    }

    /// Runs a script in the page (`arguments[i]` are `args`); returns its value.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.try_execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Like [`Browser::execute`], with the script's error as an `Err`.
    pub async fn try_execute(
        &self,
        script: &str,
        args: Vec<Value>,
    ) -> Result<Value, WebDriverError> {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// Runs an asynchronous script: it ends by calling its last argument
    /// (`arguments[arguments.length - 1]`) with the value to return.
    pub async fn execute_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/async",
            json!({"script": script, "args": args}),
        )
        .await
        .unwrap_or_else(|e| panic!("async script failed: {e}\n{script}"))
    }

    /// Polls a script until it returns something truthy (not null, false,
    /// 0 or ""), and returns that value; fails the test after `timeout`
    /// saying what was awaited.
    pub async fn wait_for(&self, what: &str, script: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.execute(script, Vec::new()).await;
            let truthy = match &value {
                Value::Null | Value::Bool(false) => false,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what} on {}",
                self.url().await
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Signs in through the form at `signin_url` as a person pasting `key`,
    /// and waits up to `timeout` for the projects page.
    pub async fn sign_in(&self, signin_url: &str, key: &str, timeout: Duration) {
        self.goto(signin_url).await;
        let token = self.find("#token").await;
        self.send_keys(&token, key).await;
        let submit = self.find("form[action='/signin'] button").await;
        self.click(&submit).await;
        self.wait_for(
            "the projects page",
            "return document.querySelector('h1') && document.querySelector('h1').textContent === 'Projects';",
            timeout,
        )
        .await;
    }

    /// Switches into an `<iframe>` (commands then act on its document).
    pub async fn enter_frame(&self, frame: &Element) {
        self.post("/frame", json!({ "id": frame.json() })).await;
    }

    /// Switches back to the top-level document.
    pub async fn leave_frames(&self) {
        self.post("/frame", json!({ "id": null })).await;
    }

    /// Performs W3C input actions (pointer drags, key chords), then
    /// releases every input.
    pub async fn actions(&self, actions: Value) {
        self.post("/actions", json!({ "actions": actions })).await;
        let _ = self
            .command(reqwest::Method::DELETE, "/actions", Value::Null)
            .await;
    }

    /// A PNG screenshot of the viewport.
    pub async fn screenshot_png(&self) -> Vec<u8> {
        let encoded = self
            .command(reqwest::Method::GET, "/screenshot", Value::Null)
            .await
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        base64_decode(encoded.as_str().expect("base64 screenshot"))
    }

    /// Writes a PNG screenshot of the viewport to `path`.
    pub async fn screenshot(&self, path: &Path) {
        let png = self.screenshot_png().await;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, png)
            .unwrap_or_else(|e| panic!("write screenshot {}: {e}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session makes chromedriver close Chromium and remove
        // its processes; only then is chromedriver itself stopped. Blocking
        // on purpose: Drop cannot await.
        if !self.session.is_empty() {
            let _ = ureq::delete(&self.session)
                .config()
                .timeout_global(Some(Duration::from_secs(10)))
                .http_status_as_error(false)
                .build()
                .call();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A port on 127.0.0.1 that was free a moment ago (chromedriver takes a
/// port number, not a listener).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Standard base64 (screenshots), without pulling in a crate for it.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            other => panic!("not base64: {:?}", other as char),
        }
    };
    let digits: Vec<u8> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c) << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

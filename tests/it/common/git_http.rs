//! A loopback git server over HTTP: `git http-backend` run as a CGI
//! program behind a small axum server, the way a git host serves smart
//! HTTP, with one accepted token. A request without it (Basic with the
//! token as password, or Bearer) gets 401 with `WWW-Authenticate`, so a
//! git client retries with credentials, and never reaches git. Tests read
//! which requests came and whether each was let in.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use base64::Engine;
use tokio::io::AsyncWriteExt;

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct GitRequest {
    pub method: String,
    pub path: String,
    /// Whether it carried the accepted token.
    pub authorized: bool,
}

struct Shared {
    /// The directory the repositories are in (`GIT_PROJECT_ROOT`).
    root: PathBuf,
    token: Mutex<String>,
    seen: Mutex<Vec<GitRequest>>,
}

/// The running server.
pub struct GitHttp {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    shared: Arc<Shared>,
}

impl GitHttp {
    /// Serves the repositories under `root` to requests that carry `token`.
    pub fn start(root: &Path, token: &str) -> GitHttp {
        let shared = Arc::new(Shared {
            root: root.to_owned(),
            token: Mutex::new(token.to_owned()),
            seen: Mutex::default(),
        });
        let app = Router::new()
            .fallback(backend)
            .with_state(Arc::clone(&shared));
        // The server under test may block its runtime while git talks to this one.
        let url = super::serve_on_own_thread(app, "git server");
        GitHttp { url, shared }
    }

    /// From now on only `token` is let in (the old one is revoked).
    pub fn accept_only(&self, token: &str) {
        *self.shared.token.lock().expect("token") = token.to_owned();
    }

    pub fn seen(&self) -> Vec<GitRequest> {
        self.shared.seen.lock().expect("seen").clone()
    }
}

/// Whether `headers` carry `token`: `Basic` with it as the password (any
/// user name, as GitHub takes `x-access-token`) or `Bearer`.
fn carries(headers: &HeaderMap, token: &str) -> bool {
    let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if let Some(bearer) = value.strip_prefix("Bearer ") {
        return bearer == token;
    }
    value
        .strip_prefix("Basic ")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|pair| String::from_utf8(pair).ok())
        .and_then(|pair| pair.split_once(':').map(|(_, p)| p == token))
        .unwrap_or(false)
}

async fn backend(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = shared.token.lock().expect("token").clone();
    let authorized = carries(&headers, &token);
    shared.seen.lock().expect("seen").push(GitRequest {
        method: method.to_string(),
        path: uri.path().to_owned(),
        authorized,
    });
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", "Basic realm=\"git\"")],
            "authentication required\n",
        )
            .into_response();
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("GIT_PROTOCOL", header("git-protocol"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&body).await;
    }
    let out = match child.wait_with_output().await {
        Ok(out) => out,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    cgi_response(&out.stdout)
}

/// A CGI program's output (headers, a blank line, the body) as a response.
fn cgi_response(out: &[u8]) -> Response {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| (at, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|at| (at, 2)));
    let Some((at, gap)) = split else {
        return (StatusCode::BAD_GATEWAY, "git http-backend wrote no headers").into_response();
    };
    let mut response = Response::builder().status(StatusCode::OK);
    for line in String::from_utf8_lossy(&out[..at]).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse::<u16>().ok())
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::OK);
            response = response.status(code);
        } else {
            response = response.header(name.trim(), value);
        }
    }
    response
        .body(Body::from(out[at + gap..].to_vec()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

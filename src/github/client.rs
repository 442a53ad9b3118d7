//! The GitHub REST calls this server makes, and GitHub's documented errors
//! turned into messages that say what to do: 401 (token expired or
//! revoked), 403/404 (which permission is missing), rate limits
//! (`retry-after`, `x-ratelimit-remaining: 0` + `x-ratelimit-reset`) and 422
//! validation failures with their `errors` array. The token goes in the
//! `Authorization` header only; no message carries it.

use std::time::Duration;

use reqwest::{StatusCode, header::HeaderMap};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// GitHub's REST API version this client speaks.
const API_VERSION: &str = "2022-11-28";

/// An authenticated user (`GET /user`).
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: i64,
    pub login: String,
}

/// A repository (`GET /repos/{owner}/{repo}`), as far as this server reads one.
#[derive(Debug, Clone, Deserialize)]
pub struct Repository {
    pub default_branch: String,
}

/// A pull request, as far as this server reads one.
#[derive(Debug, Clone, Deserialize)]
pub struct Pull {
    pub number: i64,
    pub html_url: String,
    /// `open` or `closed`.
    pub state: String,
    #[serde(default)]
    pub merged: bool,
    #[serde(default)]
    pub merged_at: Option<String>,
    pub head: Ref,
    pub base: Ref,
}

impl Pull {
    /// open, closed or merged: the state the store keeps.
    pub fn stored_state(&self) -> &'static str {
        if self.merged || self.merged_at.is_some() {
            "merged"
        } else if self.state == "closed" {
            "closed"
        } else {
            "open"
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ref {
    #[serde(rename = "ref")]
    pub name: String,
}

/// `POST /repos/{owner}/{repo}/pulls`.
#[derive(Debug, Clone, Serialize)]
pub struct NewPull<'a> {
    pub title: &'a str,
    pub body: &'a str,
    pub head: &'a str,
    pub base: &'a str,
    pub draft: bool,
}

/// A device code (`POST /login/device/code`).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: u64,
    #[serde(default = "default_interval")]
    pub interval: u64,
}

fn default_interval() -> u64 {
    5
}

/// One poll of `POST /login/oauth/access_token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevicePoll {
    Token { token: String, scopes: String },
    Pending,
    SlowDown { interval: Option<u64> },
    Expired,
    Denied,
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "GitHub refused the token ({status}): it expired or was revoked; run `vibe-kanban-mcp github connect \
         --workspace <workspace>` again"
    )]
    Unauthorized { status: u16 },
    #[error("GitHub answered {status} for {what}: {message}. {hint}")]
    Permission {
        status: u16,
        what: String,
        message: String,
        hint: String,
    },
    #[error("GitHub's rate limit for this token is used up ({message}); retry {when}")]
    RateLimited { message: String, when: String },
    #[error("GitHub refused {what} (422): {message}")]
    Invalid { what: String, message: String },
    #[error("GitHub answered {status} for {what}: {message}")]
    Status {
        status: u16,
        what: String,
        message: String,
    },
    #[error("cannot reach GitHub at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("GitHub sent a reply this server cannot read for {what}: {detail}")]
    BadReply { what: String, detail: String },
}

impl ApiError {
    /// Whether this 422 says a pull request for the branch already exists.
    pub fn pull_exists(&self) -> bool {
        matches!(self, ApiError::Invalid { message, .. } if message.contains("already exists"))
    }
}

/// The REST client: one base URL (`GITHUB_API_URL`), one HTTP client.
#[derive(Clone)]
pub struct Client {
    api_url: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(api_url: &str) -> Result<Self, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("vibe-kanban-mcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client for GitHub: {e}"))?;
        Ok(Client {
            api_url: api_url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    fn request(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.api_url))
            .bearer_auth(token)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", API_VERSION)
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        _what: &str,
    ) -> Result<reqwest::Response, ApiError> {
        request.send().await.map_err(|e| ApiError::Unreachable {
            url: self.api_url.clone(),
            detail: e.without_url().to_string(),
        })
    }

    /// The token's user and its classic scopes (`x-oauth-scopes`; empty for
    /// fine-grained tokens, which have permissions instead).
    pub async fn user(&self, token: &str) -> Result<(User, String), ApiError> {
        let what = "GET /user";
        let response = self
            .send(self.request(reqwest::Method::GET, "/user", token), what)
            .await?;
        let response = checked(response, what, Permission::User).await?;
        let scopes = header(response.headers(), "x-oauth-scopes").unwrap_or_default();
        Ok((json_body(response, what).await?, scopes))
    }

    /// A repository the token can read (its default branch, for `github link`).
    pub async fn repository(
        &self,
        token: &str,
        owner: &str,
        repo: &str,
    ) -> Result<Repository, ApiError> {
        let what = format!("GET /repos/{owner}/{repo}");
        let path = format!("/repos/{owner}/{repo}");
        let request = self.request(reqwest::Method::GET, &path, token);
        let response = self.send(request, &what).await?;
        let response = checked(response, &what, Permission::Repository).await?;
        json_body(response, &what).await
    }

    /// Opens a pull request. A 422 "A pull request already exists" is
    /// answered with the open one for the same head.
    pub async fn create_pull(
        &self,
        token: &str,
        owner: &str,
        repo: &str,
        new: &NewPull<'_>,
    ) -> Result<Pull, ApiError> {
        let what = format!("POST /repos/{owner}/{repo}/pulls");
        let path = format!("/repos/{owner}/{repo}/pulls");
        let response = self
            .send(
                self.request(reqwest::Method::POST, &path, token).json(new),
                &what,
            )
            .await?;
        match checked(response, &what, Permission::PullRequests).await {
            Ok(response) => json_body(response, &what).await,
            Err(error) if error.pull_exists() => self
                .find_open_pull(token, owner, repo, new.head)
                .await?
                .ok_or(error),
            Err(error) => Err(error),
        }
    }

    /// The open pull request whose head is `owner:branch`, if any.
    pub async fn find_open_pull(
        &self,
        token: &str,
        owner: &str,
        repo: &str,
        branch: &str,
    ) -> Result<Option<Pull>, ApiError> {
        let what = format!("GET /repos/{owner}/{repo}/pulls");
        let path = format!("/repos/{owner}/{repo}/pulls");
        let head = format!("{owner}:{branch}");
        let path = format!("{path}?{}", form(&[("head", &head), ("state", "open")]));
        let request = self.request(reqwest::Method::GET, &path, token);
        let response = checked(
            self.send(request, &what).await?,
            &what,
            Permission::PullRequests,
        )
        .await?;
        let pulls: Vec<Pull> = json_body(response, &what).await?;
        Ok(pulls.into_iter().next())
    }

    /// A pull request, with `If-None-Match: etag`: `None` when GitHub says
    /// 304 Not Modified (which costs no rate limit).
    pub async fn get_pull(
        &self,
        token: &str,
        owner: &str,
        repo: &str,
        number: i64,
        etag: Option<&str>,
    ) -> Result<Option<(Pull, Option<String>)>, ApiError> {
        let what = format!("GET /repos/{owner}/{repo}/pulls/{number}");
        let path = format!("/repos/{owner}/{repo}/pulls/{number}");
        let mut request = self.request(reqwest::Method::GET, &path, token);
        if let Some(etag) = etag {
            request = request.header("if-none-match", etag);
        }
        let response = self.send(request, &what).await?;
        if response.status() == StatusCode::NOT_MODIFIED {
            return Ok(None);
        }
        let response = checked(response, &what, Permission::PullRequestsRead).await?;
        let etag = header(response.headers(), "etag");
        Ok(Some((json_body(response, &what).await?, etag)))
    }

    /// Starts the OAuth device flow (`POST {web}/login/device/code`).
    pub async fn device_code(
        &self,
        web_url: &str,
        client_id: &str,
        scope: &str,
    ) -> Result<DeviceCode, ApiError> {
        let what = "POST /login/device/code";
        let response = self
            .send(
                self.http
                    .post(format!("{web_url}/login/device/code"))
                    .header("accept", "application/json")
                    .header("content-type", FORM)
                    .body(form(&[("client_id", client_id), ("scope", scope)])),
                what,
            )
            .await?;
        let response = checked(response, what, Permission::DeviceFlow).await?;
        json_body(response, what).await
    }

    /// One poll of `POST {web}/login/oauth/access_token`.
    pub async fn poll_device(
        &self,
        web_url: &str,
        client_id: &str,
        device_code: &str,
    ) -> Result<DevicePoll, ApiError> {
        let what = "POST /login/oauth/access_token";
        let response = self
            .send(
                self.http
                    .post(format!("{web_url}/login/oauth/access_token"))
                    .header("accept", "application/json")
                    .header("content-type", FORM)
                    .body(form(&[
                        ("client_id", client_id),
                        ("device_code", device_code),
                        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                    ])),
                what,
            )
            .await?;
        let response = checked(response, what, Permission::DeviceFlow).await?;
        let body: Json = json_body(response, what).await?;
        if let Some(token) = body["access_token"].as_str() {
            return Ok(DevicePoll::Token {
                token: token.to_owned(),
                scopes: body["scope"].as_str().unwrap_or_default().to_owned(),
            });
        }
        Ok(match body["error"].as_str().unwrap_or_default() {
            "authorization_pending" => DevicePoll::Pending,
            "slow_down" => DevicePoll::SlowDown {
                interval: body["interval"].as_u64(),
            },
            "expired_token" => DevicePoll::Expired,
            "access_denied" => DevicePoll::Denied,
            other => DevicePoll::Failed(
                body["error_description"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("error {other:?}")),
            ),
        })
    }
}

/// Which permission a 403/404 of a call points at.
#[derive(Clone, Copy)]
enum Permission {
    User,
    Repository,
    PullRequests,
    PullRequestsRead,
    DeviceFlow,
}

impl Permission {
    fn hint(self) -> &'static str {
        match self {
            Permission::User => "The token cannot read its own user; make a new token",
            Permission::Repository => {
                "The repository does not exist or the token cannot read it: check OWNER/REPO (or the \
                 origin remote); a fine-grained token needs access to the repository ('Metadata: read'), \
                 a classic token the 'repo' scope for a private one"
            }
            Permission::PullRequests => {
                "The token cannot open pull requests in this repository: a fine-grained token needs \
                 'Pull requests: write' and 'Contents: write' on it, a classic token the 'repo' scope \
                 (or 'public_repo'); check the repository name with `github link`"
            }
            Permission::PullRequestsRead => {
                "The token cannot read this repository's pull requests: a fine-grained token needs \
                 'Pull requests: read' on it, a classic token the 'repo' scope"
            }
            Permission::DeviceFlow => {
                "Check GITHUB_CLIENT_ID and that the OAuth app has the device flow enabled"
            }
        }
    }
}

const FORM: &str = "application/x-www-form-urlencoded";

/// `application/x-www-form-urlencoded` pairs (also a query string).
fn form(pairs: &[(&str, &str)]) -> String {
    fn encode(text: &str, out: &mut String) {
        for byte in text.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
                out.push(char::from(byte));
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode(name, &mut out);
        out.push('=');
        encode(value, &mut out);
    }
    out
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A success passes; anything else becomes the [`ApiError`] GitHub's
/// documentation describes for it.
async fn checked(
    response: reqwest::Response,
    what: &str,
    permission: Permission,
) -> Result<reqwest::Response, ApiError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let headers = response.headers().clone();
    let body: Json = response.json().await.unwrap_or(Json::Null);
    let message = body["message"]
        .as_str()
        .unwrap_or(status.canonical_reason().unwrap_or("error"))
        .to_owned();
    let what = what.to_owned();
    let remaining = header(&headers, "x-ratelimit-remaining");
    let retry_after = header(&headers, "retry-after").and_then(|v| v.trim().parse::<u64>().ok());
    let limited = matches!(status.as_u16(), 403 | 429)
        && (retry_after.is_some()
            || remaining.as_deref() == Some("0")
            || message.to_ascii_lowercase().contains("rate limit"));
    if limited {
        let when = match (retry_after, header(&headers, "x-ratelimit-reset")) {
            (Some(secs), _) => format!("in {secs} s (retry-after)"),
            (None, Some(reset)) => match reset
                .trim()
                .parse::<i64>()
                .ok()
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            {
                Some(at) => format!("after {} (x-ratelimit-reset)", at.to_rfc3339()),
                None => "later".to_owned(),
            },
            // Secondary limits without headers: GitHub asks for a minute.
            (None, None) => "in at least 60 s".to_owned(),
        };
        return Err(ApiError::RateLimited { message, when });
    }
    Err(match status.as_u16() {
        401 => ApiError::Unauthorized {
            status: status.as_u16(),
        },
        403 | 404 => ApiError::Permission {
            status: status.as_u16(),
            what,
            message,
            hint: permission.hint().to_owned(),
        },
        422 => {
            let details: Vec<String> = body["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    e["message"].as_str().map(str::to_owned).or_else(|| {
                        e["code"]
                            .as_str()
                            .map(|c| format!("{} {c}", e["field"].as_str().unwrap_or("")))
                    })
                })
                .collect();
            let message = if details.is_empty() {
                message
            } else {
                format!("{message}: {}", details.join("; "))
            };
            ApiError::Invalid { what, message }
        }
        code => ApiError::Status {
            status: code,
            what,
            message,
        },
    })
}

async fn json_body<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    what: &str,
) -> Result<T, ApiError> {
    response.json().await.map_err(|e| ApiError::BadReply {
        what: what.to_owned(),
        detail: e.without_url().to_string(),
    })
}

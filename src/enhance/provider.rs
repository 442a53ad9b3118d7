//! The provider boundary: every way of enhancing a prompt (a model behind an
//! HTTP API, or the offline rewriter) implements [`Provider`], and every
//! failure becomes a [`ProviderError`] whose message says what to do. Also the
//! HTTP plumbing the model providers share ([`HttpProvider::post`]): the
//! client, timeouts, headers, status and error-body classification,
//! `retry-after`, and keeping secrets out of messages.

use std::time::Duration;

use reqwest::{StatusCode, header::HeaderMap};
use serde_json::Value;

pub use futures::future::BoxFuture;

use super::config::{ProviderKind, ProviderSettings, section};
use crate::store::TaskContext;

/// What to enhance: the rough text and what is known around it.
#[derive(Debug, Clone, Default)]
pub struct EnhanceRequest {
    /// The rough prompt as the caller wrote it (may be empty when a task or
    /// template says what to do).
    pub text: String,
    /// The task the prompt is about, with its project and subtasks.
    pub context: Option<TaskContext>,
    /// The template the caller chose, rendered with its arguments.
    pub template: Option<String>,
    /// The kind of work, when a built-in template says it.
    pub kind: Option<super::templates::WorkKind>,
    /// The built-in template's other argument values ("Framework: pytest"),
    /// which the offline enhancer lists under Context.
    pub details: Vec<String>,
}

/// An enhanced prompt and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Completed {
    pub text: String,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
}

/// Enhances prompts.
pub trait Provider: Send + Sync {
    fn kind(&self) -> ProviderKind;

    /// Enhances `request` with `model` (providers without models ignore it).
    fn enhance<'a>(
        &'a self,
        request: &'a EnhanceRequest,
        model: &'a str,
    ) -> BoxFuture<'a, Result<Completed, ProviderError>>;
}

/// How a provider call failed. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    #[error("{provider} is not configured: it needs {missing}")]
    NotConfigured {
        provider: ProviderKind,
        missing: String,
    },
    #[error("{provider} refused the credentials (HTTP {status}: {message}); check {credential}")]
    Unauthorized {
        provider: ProviderKind,
        status: u16,
        message: String,
        credential: &'static str,
    },
    #[error(
        "{provider} is rate limiting requests ({message}); {}",
        match retry_after {
            Some(d) => format!("retry after {} s", d.as_secs().max(1)),
            None => "retry in a minute".to_owned(),
        }
    )]
    RateLimited {
        provider: ProviderKind,
        retry_after: Option<Duration>,
        message: String,
    },
    #[error(
        "{provider} does not know the model '{model}' ({message}); set [enhance.{}] model to a model your account can use, or pass another `model`",
        section(*provider)
    )]
    UnknownModel {
        provider: ProviderKind,
        model: String,
        message: String,
    },
    #[error(
        "{provider} did not answer within {} s; try again, raise [enhance] timeout_secs, or use provider offline",
        after.as_secs()
    )]
    Timeout {
        provider: ProviderKind,
        after: Duration,
    },
    #[error("{provider} is unavailable ({message}); try again later or use provider offline")]
    Unavailable {
        provider: ProviderKind,
        message: String,
    },
    #[error("{provider} rejected the request (HTTP {status}: {message})")]
    Rejected {
        provider: ProviderKind,
        status: u16,
        message: String,
    },
    #[error("{provider} sent a reply this server cannot read ({detail})")]
    BadReply {
        provider: ProviderKind,
        detail: String,
    },
}

/// Makes the HTTP client the model providers share.
pub fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    // reqwest is built without a bundled crypto provider; use ring. A second
    // install (another client in the same process) is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("vibe-kanban-mcp/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot set up the HTTP client for prompt enhancement: {e}"))
}

/// What the three HTTP providers share: their settings, the client, the
/// timeout and the cap on output tokens. Each provider adds only its URL,
/// headers, body and the shape of its replies.
pub struct HttpProvider {
    pub settings: ProviderSettings,
    pub http: reqwest::Client,
    pub timeout: Duration,
    pub max_tokens: u32,
}

/// What a provider's error body says: its message, and whether it means
/// "unknown model".
pub struct ApiError {
    pub message: String,
    pub model_missing: bool,
}

impl HttpProvider {
    /// The error for a provider whose settings lack a credential.
    pub fn not_configured(&self, provider: ProviderKind) -> ProviderError {
        ProviderError::NotConfigured {
            provider,
            missing: self.settings.missing.clone().unwrap_or_default(),
        }
    }

    /// Posts `body` as JSON to `url` with the headers `headers` adds (the
    /// bearer token or API key), reads the whole reply and turns a reply
    /// that `failure` reads as an error into a [`ProviderError`]. The
    /// configured secret is redacted from every message.
    pub async fn post(
        &self,
        provider: ProviderKind,
        model: &str,
        url: String,
        body: &Value,
        headers: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
        failure: impl FnOnce(&Reply) -> Option<ApiError>,
    ) -> Result<Reply, ProviderError> {
        let builder = headers(self.http.post(url).json(body));
        let secret = self.settings.secret.as_deref();
        let reply = send(provider, builder, self.timeout, secret).await?;
        match failure(&reply) {
            Some(error) => Err(classify(
                provider,
                &self.settings,
                model,
                &reply,
                error.message,
                error.model_missing,
            )),
            None => Ok(reply),
        }
    }
}

impl Completed {
    /// A reply's text (trimmed) and the token counts in `usage` under the
    /// provider's names for them.
    pub fn from_reply(text: &str, usage: &Value, input: &str, output: &str) -> Self {
        Completed {
            text: text.trim().to_owned(),
            input_tokens: tokens(&usage[input]),
            output_tokens: tokens(&usage[output]),
        }
    }
}

/// A reply: status, headers and the body as JSON (`Null` when it is not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body as text, for messages when it is not JSON.
    pub raw: String,
}

/// Sends a request and reads the whole reply, mapping transport failures.
pub async fn send(
    provider: ProviderKind,
    request: reqwest::RequestBuilder,
    timeout: Duration,
    secret: Option<&str>,
) -> Result<Reply, ProviderError> {
    let transport = |err: reqwest::Error| {
        if err.is_timeout() {
            ProviderError::Timeout {
                provider,
                after: timeout,
            }
        } else {
            ProviderError::Unavailable {
                provider,
                message: redact(&without_url(&err), secret),
            }
        }
    };
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let headers = response.headers().clone();
    let raw = response.text().await.map_err(transport)?;
    let body = serde_json::from_str(&raw).unwrap_or(Value::Null);
    Ok(Reply {
        status,
        headers,
        body,
        raw: redact(&raw, secret),
    })
}

/// A transport error's text without the URL (which may carry an account id).
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(url.as_str(), "the provider");
    }
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// Removes every occurrence of the secret from a text.
pub fn redact(text: &str, secret: Option<&str>) -> String {
    match secret.filter(|s| s.len() >= 4) {
        Some(secret) => text.replace(secret, "[redacted]"),
        None => text.to_owned(),
    }
}

/// Seconds from a `retry-after` header (seconds form) or, failing that, a
/// provider-specific reset header in seconds.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs(s.ceil() as u64))
}

/// Turns a non-success reply into an error. `model_missing` says whether the
/// provider's own error body means "unknown model".
pub fn classify(
    provider: ProviderKind,
    settings: &ProviderSettings,
    model: &str,
    reply: &Reply,
    message: String,
    model_missing: bool,
) -> ProviderError {
    // Redacted before it is cut, so a cut cannot leave part of a secret.
    let message = shorten(&redact(&message, settings.secret.as_deref()));
    let status = reply.status.as_u16();
    if model_missing || status == 404 {
        return ProviderError::UnknownModel {
            provider,
            model: model.to_owned(),
            message,
        };
    }
    match status {
        401 | 403 => ProviderError::Unauthorized {
            provider,
            status,
            message,
            credential: match provider {
                ProviderKind::WorkersAi => {
                    "CLOUDFLARE_API_TOKEN (it needs the Workers AI permission) and CLOUDFLARE_ACCOUNT_ID"
                }
                ProviderKind::Openai => "OPENAI_API_KEY",
                ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
                ProviderKind::Offline => "the configuration",
            },
        },
        429 => ProviderError::RateLimited {
            provider,
            retry_after: retry_after(&reply.headers),
            message,
        },
        408 | 500..=599 => ProviderError::Unavailable {
            provider,
            message: format!("HTTP {status}: {message}"),
        },
        _ => ProviderError::Rejected {
            provider,
            status,
            message,
        },
    }
}

/// Keeps error texts from providers short enough for a tool result.
fn shorten(text: &str) -> String {
    const MAX: usize = 300;
    let text = text.trim();
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut}…")
}

/// The message of a reply whose body is not the expected shape.
pub fn bad_reply(provider: ProviderKind, reply: &Reply, expected: &str) -> ProviderError {
    ProviderError::BadReply {
        provider,
        detail: format!(
            "expected {expected}, got HTTP {} with {}",
            reply.status.as_u16(),
            shorten(if reply.raw.is_empty() {
                "an empty body"
            } else {
                &reply.raw
            })
        ),
    }
}

/// A token count from a JSON number.
pub fn tokens(value: &Value) -> Option<i64> {
    value.as_i64().filter(|n| *n >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_retry_after_is_read() {
        assert_eq!(
            redact("bad key sk-secret-123 given", Some("sk-secret-123")),
            "bad key [redacted] given"
        );
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "17".parse().expect("header"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(17)));
        headers.insert("retry-after", "soon".parse().expect("header"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn a_long_message_loses_the_whole_secret_not_half_of_it() {
        let secret = "sk-secret-0123456789abcdef";
        let settings = ProviderSettings {
            base_url: "http://127.0.0.1:9".to_owned(),
            model: "m".to_owned(),
            secret: Some(secret.to_owned()),
            account_id: None,
            missing: None,
        };
        let reply = Reply {
            status: StatusCode::UNAUTHORIZED,
            headers: HeaderMap::new(),
            body: Value::Null,
            raw: String::new(),
        };
        // The secret straddles the point where messages are cut.
        let message = format!("{} {secret} was refused", "x".repeat(290));
        let err = classify(ProviderKind::Openai, &settings, "m", &reply, message, false);
        let text = err.to_string();
        assert!(!text.contains(&secret[..6]), "{text}");
        assert!(text.contains(" [redacted"), "{text}");
    }

    #[test]
    fn messages_say_what_to_do() {
        let err = ProviderError::RateLimited {
            provider: ProviderKind::Anthropic,
            retry_after: Some(Duration::from_secs(20)),
            message: "rate_limit_error".to_owned(),
        };
        assert_eq!(
            err.to_string(),
            "anthropic is rate limiting requests (rate_limit_error); retry after 20 s"
        );
        let err = ProviderError::UnknownModel {
            provider: ProviderKind::WorkersAi,
            model: "@cf/meta/llama-2-7b-chat-int8".to_owned(),
            message: "No such model".to_owned(),
        };
        assert!(
            err.to_string().contains("[enhance.workers_ai] model"),
            "{err}"
        );
    }
}

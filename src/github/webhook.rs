//! Webhook deliveries (`POST /webhooks/github`): the signature GitHub puts
//! in `X-Hub-Signature-256` (`sha256=` + hex HMAC-SHA256 of the raw body
//! with the webhook secret), checked in constant time by ring, and what a
//! `pull_request` event does to its task. The HTTP side is in
//! `transport::http::webhooks`.

use serde::Deserialize;

use super::{GitHub, pulls::task_move};
use crate::store::{PullRequestLink, StateSource, Store, StoreError};

/// Whether `signature` (the header's value) signs `body` with `secret`.
pub fn verify(secret: &str, body: &[u8], signature: Option<&str>) -> bool {
    let Some(hex_sig) = signature.and_then(|s| s.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(tag) = hex::decode(hex_sig) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, body, &tag).is_ok()
}

/// The signature GitHub sends for `body` (for tests and tools that replay).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    format!(
        "sha256={}",
        hex::encode(ring::hmac::sign(&key, body).as_ref())
    )
}

#[derive(Deserialize)]
struct PullRequestEvent {
    action: String,
    pull_request: EventPull,
    repository: EventRepository,
}

#[derive(Deserialize)]
struct EventPull {
    number: i64,
    #[serde(default)]
    merged: bool,
}

#[derive(Deserialize)]
struct EventRepository {
    name: String,
    owner: EventOwner,
}

#[derive(Deserialize)]
struct EventOwner {
    login: String,
}

/// What a delivery did.
#[derive(Debug)]
pub enum Outcome {
    /// Not an event (or action) that moves tasks.
    Ignored(String),
    /// A pull request this server did not open, or a redelivery.
    Unknown(String),
    /// These links changed state.
    Moved(Vec<PullRequestLink>, String),
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the {event} event's body is not what GitHub sends: {detail}")]
    BadBody { event: String, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Applies one verified delivery, at most once per `delivery` id.
pub async fn handle(
    github: &GitHub,
    store: &Store,
    event: &str,
    delivery: &str,
    body: &[u8],
) -> Result<Outcome, WebhookError> {
    if event != "pull_request" {
        return Ok(Outcome::Ignored(format!("event {event}")));
    }
    let parsed: PullRequestEvent =
        serde_json::from_slice(body).map_err(|e| WebhookError::BadBody {
            event: event.to_owned(),
            detail: e.to_string(),
        })?;
    let state = match parsed.action.as_str() {
        "closed" if parsed.pull_request.merged => "merged",
        "closed" => "closed",
        "reopened" => "open",
        other => return Ok(Outcome::Ignored(format!("pull_request action {other}"))),
    };
    let (owner, repo, number) = (
        parsed.repository.owner.login.as_str(),
        parsed.repository.name.as_str(),
        parsed.pull_request.number,
    );
    let name = format!("{owner}/{repo}#{number}");
    let moved = store
        .apply_pull_request_state(
            None,
            (owner, repo, number),
            task_move(state, github.on_close),
            None,
            StateSource::Delivery {
                id: delivery,
                event,
            },
        )
        .await?;
    Ok(if moved.is_empty() {
        Outcome::Unknown(name)
    } else {
        Outcome::Moved(moved, state.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_secret_and_body() {
        let signature = sign("It's a Secret to Everybody", b"Hello, World!");
        // GitHub's documented example.
        assert_eq!(
            signature,
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
        assert!(verify(
            "It's a Secret to Everybody",
            b"Hello, World!",
            Some(&signature)
        ));
        assert!(!verify(
            "another secret",
            b"Hello, World!",
            Some(&signature)
        ));
        assert!(!verify(
            "It's a Secret to Everybody",
            b"Hello, World?",
            Some(&signature)
        ));
        assert!(!verify(
            "It's a Secret to Everybody",
            b"Hello, World!",
            None
        ));
        assert!(!verify(
            "It's a Secret to Everybody",
            b"Hello, World!",
            Some("sha1=00")
        ));
    }
}

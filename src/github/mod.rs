//! GitHub: connections (a workspace's token, sealed at rest by
//! [`crypto`]), the REST calls this server makes ([`client`]: `GET /user`,
//! pull requests, the OAuth device flow), pushing a session's branch with
//! the token for that one command ([`push`]), webhook deliveries
//! ([`webhook`]) and what a pull request's state does to its task
//! ([`pulls`]: `create_pull_request`, the sync). The store keeps the rows;
//! nothing here knows MCP.

pub mod client;
pub mod crypto;
pub mod pulls;
pub mod push;
pub mod webhook;

use std::{path::PathBuf, time::Duration};

use serde::Deserialize;

pub use client::{ApiError, Client};
pub use crypto::{CryptoError, Keys, SecretKey};

/// `[github]` in the configuration file. Secrets come from the environment
/// (`VK_SECRET_KEY`, `VK_SECRET_KEY_OLD`, `GITHUB_WEBHOOK_SECRET`) or from the
/// files named here (a mounted secret), never from this file itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitHubConfig {
    /// REST API base [env: GITHUB_API_URL; default https://api.github.com].
    #[serde(default)]
    pub api_url: Option<String>,
    /// Web base of the OAuth device flow [env: GITHUB_WEB_URL; default
    /// https://github.com].
    #[serde(default)]
    pub web_url: Option<String>,
    /// OAuth app client id for the device flow [env: GITHUB_CLIENT_ID].
    #[serde(default)]
    pub client_id: Option<String>,
    /// A file holding the base64 key that seals tokens (instead of VK_SECRET_KEY).
    #[serde(default)]
    pub secret_key_file: Option<PathBuf>,
    /// A file holding the previous key, during a rotation (instead of VK_SECRET_KEY_OLD).
    #[serde(default)]
    pub old_secret_key_file: Option<PathBuf>,
    /// A file holding the webhook secret (instead of GITHUB_WEBHOOK_SECRET).
    #[serde(default)]
    pub webhook_secret_file: Option<PathBuf>,
    /// Where a pull request closed without merging moves its task: `todo`
    /// (default), `cancelled`, or `keep` (it stays where it is).
    #[serde(default)]
    pub on_close: OnClose,
    /// Seconds between the runner's checks of open pull requests (0 turns
    /// them off; default 300).
    #[serde(default = "default_sync_secs")]
    pub sync_interval_secs: u64,
}

fn default_sync_secs() -> u64 {
    300
}

/// What a pull request closed unmerged does to its task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnClose {
    #[default]
    Todo,
    Cancelled,
    Keep,
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read {what} from {path}: {source}")]
    ReadFile {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] CryptoError),
    #[error("{0}")]
    Client(String),
}

/// GitHub as this process reaches it: URLs, keys, webhook secret, policy.
pub struct GitHub {
    pub client: Client,
    pub web_url: String,
    pub client_id: Option<String>,
    pub keys: Keys,
    pub webhook_secret: Option<String>,
    pub on_close: OnClose,
    pub sync_interval: Option<Duration>,
}

impl std::fmt::Debug for GitHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.client.api_url())
            .field("web_url", &self.web_url)
            .field("keys", &self.keys)
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "…"))
            .finish()
    }
}

impl GitHub {
    /// Settings from `[github]` and the environment (`env` looks a name up),
    /// checked once at start: a malformed key is an error now, not later.
    pub fn resolve(
        config: &GitHubConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, SetupError> {
        let nonempty = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let api_url = nonempty("GITHUB_API_URL")
            .or_else(|| config.api_url.clone())
            .unwrap_or_else(|| "https://api.github.com".to_owned());
        let web_url = nonempty("GITHUB_WEB_URL")
            .or_else(|| config.web_url.clone())
            .unwrap_or_else(|| "https://github.com".to_owned());
        let secret =
            |var: &str, file: &Option<PathBuf>, what: &'static str| match (nonempty(var), file) {
                (Some(value), _) => Ok(Some(value)),
                (None, Some(path)) => std::fs::read_to_string(path)
                    .map(|text| Some(text.trim().to_owned()))
                    .map_err(|source| SetupError::ReadFile {
                        what,
                        path: path.clone(),
                        source,
                    }),
                (None, None) => Ok(None),
            };
        let key = |var: &str, file: &Option<PathBuf>| -> Result<Option<SecretKey>, SetupError> {
            secret(var, file, "the secret key")?
                .map(|text| SecretKey::from_base64(&text, var))
                .transpose()
                .map_err(SetupError::from)
        };
        let keys = Keys {
            current: key("VK_SECRET_KEY", &config.secret_key_file)?,
            old: key("VK_SECRET_KEY_OLD", &config.old_secret_key_file)?,
        };
        Ok(GitHub {
            client: Client::new(&api_url).map_err(SetupError::Client)?,
            web_url: web_url.trim_end_matches('/').to_owned(),
            client_id: nonempty("GITHUB_CLIENT_ID").or_else(|| config.client_id.clone()),
            keys,
            webhook_secret: secret(
                "GITHUB_WEBHOOK_SECRET",
                &config.webhook_secret_file,
                "the webhook secret",
            )?,
            on_close: config.on_close,
            sync_interval: (config.sync_interval_secs > 0)
                .then(|| Duration::from_secs(config.sync_interval_secs)),
        })
    }
}

/// `owner/repo` from a git remote URL: `https://host/owner/repo(.git)`,
/// `ssh://git@host/owner/repo.git` and `git@host:owner/repo.git`.
pub fn repo_from_remote(url: &str) -> Option<(String, String)> {
    let url = url.trim();
    let path = if let Some((_, rest)) = url.split_once("://") {
        rest.split_once('/')?.1
    } else if let Some((host, rest)) = url.split_once(':') {
        // scp-like: user@host:owner/repo
        if host.contains('/') {
            return None;
        }
        rest
    } else {
        return None;
    };
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    let (owner, repo) = path.rsplit_once('/')?;
    let owner = owner.rsplit('/').next()?;
    valid_repo(owner, repo).then(|| (owner.to_owned(), repo.to_owned()))
}

/// `owner/repo` as given on the command line.
pub fn parse_repo(text: &str) -> Option<(String, String)> {
    let (owner, repo) = text.trim().split_once('/')?;
    valid_repo(owner, repo).then(|| (owner.to_owned(), repo.to_owned()))
}

fn valid_repo(owner: &str, repo: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 100
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    ok(owner) && ok(repo) && repo != "." && repo != ".."
}

/// Hides `secret` wherever it appears in `text` (a message from git or
/// GitHub that might echo it), and credentials in URLs.
pub fn redact(text: &str, secret: &str) -> String {
    let mut text = if secret.len() >= 4 {
        text.replace(secret, "[redacted]")
    } else {
        text.to_owned()
    };
    // scheme://user:password@host → scheme://[redacted]@host
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let start = from + found + 3;
        let rest = &text[start..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '/')
            .unwrap_or(rest.len());
        match rest[..end].rfind('@') {
            Some(at) if &rest[..at] != "[redacted]" => {
                text = format!("{}[redacted]{}", &text[..start], &text[start + at..]);
                from = start + "[redacted]".len();
            }
            _ => from = start,
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repositories_from_remote_urls() {
        let want = Some(("acme".to_owned(), "widgets".to_owned()));
        assert_eq!(
            repo_from_remote("https://github.com/acme/widgets.git"),
            want
        );
        assert_eq!(repo_from_remote("https://github.com/acme/widgets"), want);
        assert_eq!(repo_from_remote("git@github.com:acme/widgets.git"), want);
        assert_eq!(
            repo_from_remote("ssh://git@github.com/acme/widgets.git"),
            want
        );
        assert_eq!(
            repo_from_remote("https://x:y@github.com/acme/widgets/"),
            want
        );
        assert_eq!(repo_from_remote("/srv/git/widgets.git"), None);
        assert_eq!(parse_repo("acme/widgets"), want);
        assert_eq!(parse_repo("acme"), None);
    }

    #[test]
    fn redaction_hides_tokens_and_url_credentials() {
        let said = redact("fatal: https://me:ghp_abc@host/x failed ghp_abc", "ghp_abc");
        assert!(!said.contains("ghp_abc"), "{said}");
        assert!(said.contains("https://[redacted]@host/x"), "{said}");
    }
}

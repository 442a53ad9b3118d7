//! The `[enhance]` section of the configuration file, and the provider
//! settings resolved from it and the environment once at start.
//!
//! Secrets come only from the environment (`CLOUDFLARE_API_TOKEN`,
//! `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`), never from the file. For the other
//! settings the file wins and the providers' usual environment variables
//! (`CLOUDFLARE_ACCOUNT_ID`, `OPENAI_BASE_URL`) fill in what it leaves out.

use std::{fmt, time::Duration};

use anyhow::bail;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A prompt enhancement provider.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    /// Deterministic rewrite into goal, context, constraints and acceptance
    /// criteria; no model, no network.
    Offline,
    /// Cloudflare Workers AI.
    WorkersAi,
    /// Any OpenAI-compatible chat completions endpoint (OpenAI, Ollama,
    /// llama.cpp, vLLM, ...).
    Openai,
    /// Anthropic's Messages API.
    Anthropic,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::Offline,
        ProviderKind::WorkersAi,
        ProviderKind::Openai,
        ProviderKind::Anthropic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Offline => "offline",
            ProviderKind::WorkersAi => "workers-ai",
            ProviderKind::Openai => "openai",
            ProviderKind::Anthropic => "anthropic",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[enhance]` in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnhanceConfig {
    /// The provider used when a call names none (default `offline`;
    /// `VK_ENHANCE_PROVIDER` overrides it).
    pub provider: ProviderKind,
    /// Providers tried in order when the default one fails, e.g. `["offline"]`.
    pub fallback: Vec<ProviderKind>,
    /// How long to wait for a provider's whole reply, in seconds.
    pub timeout_secs: u64,
    /// How long an enhancement stays cached, in seconds (0 = no cache).
    pub cache_ttl_secs: u64,
    /// Most tokens a model may write for one enhancement.
    pub max_tokens: u32,
    pub workers_ai: WorkersAiConfig,
    pub openai: OpenAiConfig,
    pub anthropic: AnthropicConfig,
}

impl Default for EnhanceConfig {
    fn default() -> Self {
        EnhanceConfig {
            provider: ProviderKind::Offline,
            fallback: Vec::new(),
            timeout_secs: 30,
            cache_ttl_secs: 7 * 24 * 3600,
            max_tokens: 1024,
            workers_ai: WorkersAiConfig::default(),
            openai: OpenAiConfig::default(),
            anthropic: AnthropicConfig::default(),
        }
    }
}

/// `[enhance.workers_ai]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkersAiConfig {
    /// Cloudflare account id (else `CLOUDFLARE_ACCOUNT_ID`).
    pub account_id: Option<String>,
    /// API base URL.
    pub api_base: String,
    /// Model id, e.g. `@cf/meta/llama-3.1-8b-instruct`.
    pub model: String,
}

impl Default for WorkersAiConfig {
    fn default() -> Self {
        WorkersAiConfig {
            account_id: None,
            api_base: "https://api.cloudflare.com/client/v4".to_owned(),
            model: "@cf/meta/llama-3.1-8b-instruct".to_owned(),
        }
    }
}

/// `[enhance.openai]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAiConfig {
    /// Base URL including the version, e.g. `http://127.0.0.1:11434/v1` for
    /// Ollama (else `OPENAI_BASE_URL`, else `https://api.openai.com/v1`).
    pub base_url: Option<String>,
    /// Model name (default `gpt-4o-mini`).
    pub model: Option<String>,
}

/// `[enhance.anthropic]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnthropicConfig {
    /// Base URL (the API's `/v1/messages` is appended).
    pub base_url: String,
    /// Model name.
    pub model: String,
}

impl Default for AnthropicConfig {
    fn default() -> Self {
        AnthropicConfig {
            base_url: "https://api.anthropic.com".to_owned(),
            model: "claude-haiku-4-5".to_owned(),
        }
    }
}

pub const DEFAULT_OPENAI_BASE: &str = "https://api.openai.com/v1";
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-4o-mini";

/// A provider's settings after the file and the environment are combined.
#[derive(Clone)]
pub struct ProviderSettings {
    pub base_url: String,
    pub model: String,
    /// The API key or token; `None` when none is needed or none is set.
    pub secret: Option<String>,
    /// Workers AI only.
    pub account_id: Option<String>,
    /// What is missing before the provider can be used, if anything.
    pub missing: Option<String>,
}

impl fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("secret", &self.secret.as_ref().map(|_| "<set>"))
            .field("account_id", &self.account_id)
            .field("missing", &self.missing)
            .finish()
    }
}

/// Everything enhancement needs, resolved once at start.
#[derive(Debug, Clone)]
pub struct EnhanceSettings {
    /// The default provider followed by its fallbacks, without repeats.
    pub chain: Vec<ProviderKind>,
    pub timeout: Duration,
    pub cache_ttl: Duration,
    pub max_tokens: u32,
    pub workers_ai: ProviderSettings,
    pub openai: ProviderSettings,
    pub anthropic: ProviderSettings,
}

impl Default for EnhanceSettings {
    fn default() -> Self {
        EnhanceSettings::resolve(&EnhanceConfig::default(), |_| None)
            .unwrap_or_else(|_| unreachable!("the default configuration is valid"))
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

impl EnhanceSettings {
    /// Combines the file's section with the environment (`env` looks a
    /// variable up) and checks that every provider of the chain is usable.
    pub fn resolve(
        config: &EnhanceConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let env = |name: &str| non_empty(env(name));
        let chain = chain(config, &env)?;
        if config.timeout_secs == 0 || config.timeout_secs > 600 {
            bail!(
                "[enhance] timeout_secs = {} is out of range; use 1 to 600 seconds",
                config.timeout_secs
            );
        }
        if config.max_tokens == 0 || config.max_tokens > 32_000 {
            bail!(
                "[enhance] max_tokens = {} is out of range; use 1 to 32000",
                config.max_tokens
            );
        }
        let settings = EnhanceSettings {
            chain,
            timeout: Duration::from_secs(config.timeout_secs),
            cache_ttl: Duration::from_secs(config.cache_ttl_secs),
            max_tokens: config.max_tokens,
            workers_ai: workers_ai(&config.workers_ai, &env),
            openai: openai(&config.openai, &env),
            anthropic: anthropic(&config.anthropic, &env),
        };
        settings.check_chain()?;
        Ok(settings)
    }

    /// Every provider of the chain has its credentials, a model and an
    /// http(s) base URL.
    fn check_chain(&self) -> anyhow::Result<()> {
        for kind in &self.chain {
            if let Some(provider) = self.provider(*kind) {
                if let Some(missing) = &provider.missing {
                    bail!("prompt enhancement provider {kind} is configured but needs {missing}");
                }
                if provider.model.is_empty() {
                    bail!("[enhance.{}] model must not be empty", section(*kind));
                }
                if !provider.base_url.starts_with("http://")
                    && !provider.base_url.starts_with("https://")
                {
                    bail!(
                        "the base URL of provider {kind} ('{}') must start with http:// or https://",
                        provider.base_url
                    );
                }
            }
        }
        Ok(())
    }

    /// The settings of a model provider (`None` for offline).
    pub fn provider(&self, kind: ProviderKind) -> Option<&ProviderSettings> {
        match kind {
            ProviderKind::Offline => None,
            ProviderKind::WorkersAi => Some(&self.workers_ai),
            ProviderKind::Openai => Some(&self.openai),
            ProviderKind::Anthropic => Some(&self.anthropic),
        }
    }
}

/// A variable of the environment, trimmed; empty counts as unset.
type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The default provider (`VK_ENHANCE_PROVIDER` wins over the file) and its
/// fallbacks, without repeats.
fn chain(config: &EnhanceConfig, env: Env<'_>) -> anyhow::Result<Vec<ProviderKind>> {
    let primary = match env("VK_ENHANCE_PROVIDER") {
        Some(name) => ProviderKind::parse(&name).ok_or_else(|| {
            anyhow::anyhow!(
                "VK_ENHANCE_PROVIDER='{name}' is not a provider; use one of offline, workers-ai, openai, anthropic"
            )
        })?,
        None => config.provider,
    };
    let mut chain = vec![primary];
    for kind in &config.fallback {
        if !chain.contains(kind) {
            chain.push(*kind);
        }
    }
    Ok(chain)
}

fn workers_ai(config: &WorkersAiConfig, env: Env<'_>) -> ProviderSettings {
    let account_id = non_empty(config.account_id.clone()).or_else(|| env("CLOUDFLARE_ACCOUNT_ID"));
    let token = env("CLOUDFLARE_API_TOKEN");
    let missing = match (&account_id, &token) {
        (Some(_), Some(_)) => None,
        (None, Some(_)) => Some(
            "a Cloudflare account id: set CLOUDFLARE_ACCOUNT_ID or [enhance.workers_ai] account_id"
                .to_owned(),
        ),
        (Some(_), None) => Some("an API token: set CLOUDFLARE_API_TOKEN".to_owned()),
        (None, None) => {
            Some("credentials: set CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN".to_owned())
        }
    };
    ProviderSettings {
        base_url: trim_url(&config.api_base),
        model: config.model.trim().to_owned(),
        secret: token,
        account_id,
        missing,
    }
}

fn openai(config: &OpenAiConfig, env: Env<'_>) -> ProviderSettings {
    let base = non_empty(config.base_url.clone())
        .or_else(|| env("OPENAI_BASE_URL"))
        .unwrap_or_else(|| DEFAULT_OPENAI_BASE.to_owned());
    let key = env("OPENAI_API_KEY");
    // Local OpenAI-compatible servers (Ollama, llama.cpp) need no key;
    // OpenAI itself does.
    let missing = (key.is_none() && trim_url(&base) == DEFAULT_OPENAI_BASE).then(|| {
        "an API key: set OPENAI_API_KEY (or point OPENAI_BASE_URL at a local server)".to_owned()
    });
    ProviderSettings {
        base_url: trim_url(&base),
        model: non_empty(config.model.clone()).unwrap_or_else(|| DEFAULT_OPENAI_MODEL.to_owned()),
        secret: key,
        account_id: None,
        missing,
    }
}

fn anthropic(config: &AnthropicConfig, env: Env<'_>) -> ProviderSettings {
    let key = env("ANTHROPIC_API_KEY");
    ProviderSettings {
        base_url: trim_url(&config.base_url),
        model: config.model.trim().to_owned(),
        missing: key
            .is_none()
            .then(|| "an API key: set ANTHROPIC_API_KEY".to_owned()),
        secret: key,
        account_id: None,
    }
}

/// The name of a provider's section in the file.
pub fn section(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Offline => "offline",
        ProviderKind::WorkersAi => "workers_ai",
        ProviderKind::Openai => "openai",
        ProviderKind::Anthropic => "anthropic",
    }
}

fn trim_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn default_is_offline_only() {
        let settings = EnhanceSettings::default();
        assert_eq!(settings.chain, [ProviderKind::Offline]);
        assert!(settings.anthropic.missing.is_some());
    }

    #[test]
    fn chain_needs_credentials_and_env_fills_in() {
        let config: EnhanceConfig =
            toml::from_str("provider = \"workers-ai\"\nfallback = [\"offline\", \"workers-ai\"]")
                .expect("valid section");
        let err = EnhanceSettings::resolve(&config, env(&[])).expect_err("no credentials");
        assert!(err.to_string().contains("CLOUDFLARE_API_TOKEN"), "{err}");
        let settings = EnhanceSettings::resolve(
            &config,
            env(&[
                ("CLOUDFLARE_ACCOUNT_ID", "acc"),
                ("CLOUDFLARE_API_TOKEN", "cf-secret-value"),
            ]),
        )
        .expect("configured");
        assert_eq!(
            settings.chain,
            [ProviderKind::WorkersAi, ProviderKind::Offline]
        );
        assert_eq!(settings.workers_ai.account_id.as_deref(), Some("acc"));
        assert!(
            !format!("{settings:?}").contains("cf-secret-value"),
            "no secret in Debug"
        );
    }

    #[test]
    fn local_openai_servers_need_no_key_and_the_file_wins() {
        let config: EnhanceConfig = toml::from_str(
            "provider = \"openai\"\n[openai]\nbase_url = \"http://127.0.0.1:11434/v1/\"\nmodel = \"llama3.2\"",
        )
        .expect("valid section");
        let settings =
            EnhanceSettings::resolve(&config, env(&[("OPENAI_BASE_URL", "http://elsewhere/v1")]))
                .expect("local server");
        assert_eq!(settings.openai.base_url, "http://127.0.0.1:11434/v1");
        assert_eq!(settings.openai.model, "llama3.2");
        let err = EnhanceSettings::resolve(
            &toml::from_str("provider = \"openai\"").expect("valid"),
            env(&[]),
        )
        .expect_err("OpenAI itself needs a key");
        assert!(err.to_string().contains("OPENAI_API_KEY"), "{err}");
        let err = EnhanceSettings::resolve(&config, env(&[("VK_ENHANCE_PROVIDER", "gpt")]))
            .expect_err("bad");
        assert!(err.to_string().contains("VK_ENHANCE_PROVIDER"), "{err}");
        assert!(toml::from_str::<EnhanceConfig>("provder = \"openai\"").is_err());
    }
}

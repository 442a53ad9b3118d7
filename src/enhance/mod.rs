//! Prompt enhancement: turns a rough prompt or a task into a clear prompt for
//! a coding agent, with a model when one is configured and without one when
//! not.
//!
//! - [`provider`] — the [`provider::Provider`] trait every enhancer
//!   implements, its errors, and the HTTP plumbing the model providers share;
//! - [`offline`] (the default), [`workers_ai`], [`openai`], [`anthropic`] —
//!   the providers, each speaking its API's documented wire format;
//! - [`templates`] — prompt templates and their placeholders, and the four
//!   built-ins; [`catalog`] — listing, changing, rendering and completing
//!   them against the store;
//! - [`config`] — the `[enhance]` section and the environment.
//!
//! [`Enhancer::enhance`] reads once (cache row, task context and template in
//! one batch); a cache hit ends there. Otherwise it asks the providers of the
//! chain in turn and writes once (cache row and usage record).

pub mod anthropic;
pub mod catalog;
pub mod config;
mod messages;
pub mod offline;
pub mod openai;
pub mod provider;
pub mod templates;
pub mod workers_ai;

use std::{collections::BTreeMap, sync::Arc};

use chrono::{SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use self::{
    catalog::CatalogError,
    config::{EnhanceSettings, ProviderKind},
    provider::{Completed, EnhanceRequest, HttpProvider, Provider, ProviderError},
    templates::{TASK_ID, TemplateError},
};
use crate::store::{Actor, CacheEntry, PromptInputs, Store, StoreError, TaskId, Usage};

/// Longest rough prompt, in characters.
pub const MAX_PROMPT: usize = 50_000;
/// The `kind` of the usage records enhancement writes.
pub const USAGE_KIND: &str = "enhance_prompt";

/// What to enhance.
#[derive(Debug, Clone, Default)]
pub struct EnhanceInput {
    pub prompt: Option<String>,
    pub task_id: Option<TaskId>,
    pub template: Option<String>,
    pub arguments: BTreeMap<String, String>,
    pub provider: Option<ProviderKind>,
    pub model: Option<String>,
    /// Skip the cache (the new result replaces the cached one).
    pub refresh: bool,
}

/// A provider that failed before another one answered.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct FailedAttempt {
    /// The provider that failed.
    pub provider: ProviderKind,
    /// Why, in words.
    pub error: String,
}

/// An enhanced prompt and where it came from.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Enhanced {
    /// The enhanced prompt, ready to give to an agent.
    pub enhanced_prompt: String,
    /// The provider that produced it.
    pub provider: ProviderKind,
    /// The model used (for offline, its rules version).
    pub model: String,
    /// True when the result came from the cache and cost nothing.
    pub cached: bool,
    /// Input tokens the provider reported, if it did.
    pub input_tokens: Option<i64>,
    /// Output tokens the provider reported, if it did.
    pub output_tokens: Option<i64>,
    /// The template used, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The task whose context was used, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<TaskId>,
    /// Providers of the fallback chain that failed before this one answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallback_from: Vec<FailedAttempt>,
}

/// How an enhancement can fail.
#[derive(Debug, thiserror::Error)]
pub enum EnhanceError {
    /// The input is malformed (a JSON-RPC invalid-params error).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Provider(ProviderError),
    #[error("{}", describe_all(.0))]
    AllFailed(Vec<FailedAttempt>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TemplateError> for EnhanceError {
    fn from(err: TemplateError) -> Self {
        EnhanceError::Catalog(CatalogError::Template(err))
    }
}

fn describe_all(attempts: &[FailedAttempt]) -> String {
    let parts: Vec<String> = attempts
        .iter()
        .map(|a| format!("{}: {}", a.provider, a.error))
        .collect();
    format!(
        "every provider of the fallback chain failed — {}",
        parts.join("; ")
    )
}

/// What the cache holds for one enhancement.
#[derive(Debug, Serialize, Deserialize)]
struct CachedValue {
    text: String,
    /// Hash of the resolved input; a changed task or template misses.
    fingerprint: String,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
}

/// The enhancement service: configured providers and the fallback chain.
pub struct Enhancer {
    settings: EnhanceSettings,
    providers: Vec<Arc<dyn Provider>>,
}

impl Enhancer {
    /// Builds the providers from settings resolved at start.
    pub fn new(settings: EnhanceSettings) -> anyhow::Result<Self> {
        let http = provider::http_client(settings.timeout)?;
        let base = |settings_of: &config::ProviderSettings| HttpProvider {
            settings: settings_of.clone(),
            http: http.clone(),
            timeout: settings.timeout,
            max_tokens: settings.max_tokens,
        };
        let providers: Vec<Arc<dyn Provider>> = vec![
            Arc::new(offline::Offline),
            Arc::new(workers_ai::WorkersAi(base(&settings.workers_ai))),
            Arc::new(openai::OpenAi(base(&settings.openai))),
            Arc::new(anthropic::Anthropic(base(&settings.anthropic))),
        ];
        Ok(Enhancer {
            settings,
            providers,
        })
    }

    /// The default provider and its fallbacks.
    pub fn chain(&self) -> &[ProviderKind] {
        &self.settings.chain
    }

    fn provider(&self, kind: ProviderKind) -> Option<&Arc<dyn Provider>> {
        self.providers.iter().find(|p| p.kind() == kind)
    }

    /// The model a provider uses unless the caller names one.
    pub fn default_model(&self, kind: ProviderKind) -> String {
        self.settings
            .provider(kind)
            .map_or_else(|| offline::MODEL.to_owned(), |p| p.model.clone())
    }

    /// Enhances a prompt: the input is checked and planned, one read, then
    /// (unless the cache answered) the providers of the chain in turn, then
    /// one write.
    pub async fn enhance(
        &self,
        store: &Store,
        actor: &Actor,
        input: EnhanceInput,
    ) -> Result<Enhanced, EnhanceError> {
        let plan = Plan::new(self, actor, &input)?;
        let first_key = (plan.use_cache && !input.refresh).then(|| plan.key_for(plan.first));
        let inputs = store
            .prompt_inputs(
                actor,
                first_key.as_deref(),
                input.task_id.as_ref(),
                plan.template_name.filter(|_| plan.builtin.is_none()),
            )
            .await?;
        if let Some(task_id) = &input.task_id
            && inputs.task.is_none()
        {
            return Err(StoreError::not_found(crate::store::Entity::Task, task_id).into());
        }
        let cached = inputs.cached.clone();
        let request = plan.request(inputs)?;
        let fingerprint = fingerprint(&request);
        if let Some(hit) = plan.cache_hit(cached.as_deref(), &fingerprint) {
            return Ok(hit);
        }
        plan.run_chain(store, &request, &fingerprint).await
    }
}

/// One enhancement, decided before anything is read: the checked input, the
/// chain to try and the model and cache key of each of its providers.
struct Plan<'a> {
    enhancer: &'a Enhancer,
    actor: &'a Actor,
    input: &'a EnhanceInput,
    /// The rough prompt, trimmed (may be empty).
    prompt: &'a str,
    chain: Vec<ProviderKind>,
    first: ProviderKind,
    /// The caller's `model`, which applies to the first provider only.
    model_override: Option<&'a str>,
    template_name: Option<&'a str>,
    /// The built-in template of that name (others come from the store).
    builtin: Option<templates::PromptTemplate>,
    use_cache: bool,
}

impl<'a> Plan<'a> {
    /// Checks the input and picks the chain; errors are invalid params.
    fn new(
        enhancer: &'a Enhancer,
        actor: &'a Actor,
        input: &'a EnhanceInput,
    ) -> Result<Self, EnhanceError> {
        let prompt = input.prompt.as_deref().map(str::trim).unwrap_or_default();
        if prompt.chars().count() > MAX_PROMPT {
            return Err(EnhanceError::Invalid(format!(
                "field `prompt` is {} characters long; the limit is {MAX_PROMPT}",
                prompt.chars().count()
            )));
        }
        if prompt.is_empty() && input.task_id.is_none() && input.template.is_none() {
            return Err(EnhanceError::Invalid(
                "give `prompt` (the rough text), `task_id` (a task to write a prompt for), or both"
                    .to_owned(),
            ));
        }
        let chain: Vec<ProviderKind> = match input.provider {
            Some(kind) => vec![kind],
            None => enhancer.settings.chain.clone(),
        };
        let first = chain.first().copied().unwrap_or(ProviderKind::Offline);
        let model_override = input
            .model
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty());
        if let Some(model) = model_override {
            check_model(first, model)?;
        }
        let template_name = input.template.as_deref().map(str::trim);
        Ok(Plan {
            enhancer,
            actor,
            input,
            prompt,
            chain,
            first,
            model_override,
            template_name,
            builtin: template_name.and_then(templates::builtin),
            use_cache: !enhancer.settings.cache_ttl.is_zero(),
        })
    }

    fn model_for(&self, kind: ProviderKind) -> String {
        match self.model_override {
            Some(model) if kind == self.first => model.to_owned(),
            _ => self.enhancer.default_model(kind),
        }
    }

    fn key_for(&self, kind: ProviderKind) -> String {
        cache_key(
            self.actor,
            kind,
            &self.model_for(kind),
            self.template_name,
            self.prompt,
            self.input,
        )
    }

    /// What the providers are given: the rough prompt, the task, and the
    /// template rendered with its arguments.
    fn request(&self, inputs: PromptInputs) -> Result<EnhanceRequest, EnhanceError> {
        let mut request = EnhanceRequest {
            text: self.prompt.to_owned(),
            context: inputs.task,
            ..EnhanceRequest::default()
        };
        let Some(name) = self.template_name else {
            return Ok(request);
        };
        let template = match &self.builtin {
            Some(t) => t.clone(),
            None => inputs
                .template
                .map(catalog::from_record)
                .ok_or_else(|| CatalogError::UnknownTemplate(name.to_owned()))?,
        };
        let values = template_values(&template, self.input, self.prompt);
        templates::check_arguments(&template, &values)?;
        request.template = Some(templates::render(
            &template,
            &values,
            request.context.as_ref(),
        ));
        // Without a rough prompt, the template's main argument says what
        // to do (the offline enhancer's goal).
        let main = template
            .arguments
            .iter()
            .find(|a| a.required && a.name != TASK_ID)
            .map(|a| a.name.clone());
        if request.text.is_empty()
            && let Some(value) = main.as_ref().and_then(|m| values.get(m))
        {
            request.text = value.trim().to_owned();
        }
        if template.kind().is_some() {
            request.details = template
                .arguments
                .iter()
                .filter(|a| a.name != TASK_ID && Some(&a.name) != main.as_ref())
                .filter_map(|a| {
                    let value = values.get(&a.name)?.trim();
                    (!value.is_empty()).then(|| format!("{}: {value}", label(&a.name)))
                })
                .collect();
        }
        request.kind = template.kind();
        Ok(request)
    }

    /// The cached result, when the cache row was made from the same input.
    fn cache_hit(&self, raw: Option<&str>, fingerprint: &str) -> Option<Enhanced> {
        let hit = serde_json::from_str::<CachedValue>(raw?).ok()?;
        (hit.fingerprint == fingerprint).then(|| Enhanced {
            enhanced_prompt: hit.text,
            provider: self.first,
            model: self.model_for(self.first),
            cached: true,
            input_tokens: hit.input_tokens,
            output_tokens: hit.output_tokens,
            template: self.template_name.map(str::to_owned),
            task_id: self.input.task_id.clone(),
            fallback_from: Vec::new(),
        })
    }

    /// Asks the providers of the chain in turn; the first answer is written
    /// (cache row and usage record) and returned with the failures before it.
    async fn run_chain(
        &self,
        store: &Store,
        request: &EnhanceRequest,
        fingerprint: &str,
    ) -> Result<Enhanced, EnhanceError> {
        let mut failed = Vec::new();
        for (index, kind) in self.chain.iter().copied().enumerate() {
            let model = self.model_for(kind);
            let Some(provider) = self.enhancer.provider(kind) else {
                continue;
            };
            match provider.enhance(request, &model).await {
                Ok(done) => {
                    self.record(store, kind, &model, &done, fingerprint).await?;
                    return Ok(Enhanced {
                        enhanced_prompt: done.text,
                        provider: kind,
                        model,
                        cached: false,
                        input_tokens: done.input_tokens,
                        output_tokens: done.output_tokens,
                        template: self.template_name.map(str::to_owned),
                        task_id: self.input.task_id.clone(),
                        fallback_from: failed,
                    });
                }
                Err(err) => {
                    tracing::warn!(provider = %kind, model = %model, error = %err, "prompt enhancement failed");
                    if self.chain.len() == 1 {
                        return Err(EnhanceError::Provider(err));
                    }
                    failed.push(FailedAttempt {
                        provider: kind,
                        error: err.to_string(),
                    });
                    if index + 1 == self.chain.len() {
                        return Err(EnhanceError::AllFailed(failed));
                    }
                }
            }
        }
        Err(EnhanceError::AllFailed(failed))
    }

    /// The one write: the cache row (when caching is on) and the usage record.
    async fn record(
        &self,
        store: &Store,
        kind: ProviderKind,
        model: &str,
        done: &Completed,
        fingerprint: &str,
    ) -> Result<(), EnhanceError> {
        let cache = self.use_cache.then(|| CacheEntry {
            key: self.key_for(kind),
            value: cache_value(done, fingerprint),
            expires_at: expiry(self.enhancer.settings.cache_ttl),
        });
        let usage = Usage {
            kind: USAGE_KIND,
            provider: kind.to_string(),
            model: Some(model.to_owned()),
            input_tokens: done.input_tokens,
            output_tokens: done.output_tokens,
        };
        store.record_enhancement(self.actor, cache, usage).await?;
        Ok(())
    }
}

/// A caller's `model` for the first provider of the chain.
fn check_model(first: ProviderKind, model: &str) -> Result<(), EnhanceError> {
    if model.chars().count() > 200 {
        return Err(EnhanceError::Invalid(
            "field `model` is longer than 200 characters".to_owned(),
        ));
    }
    if first == ProviderKind::Offline && model != offline::MODEL {
        return Err(EnhanceError::Invalid(format!(
            "the offline enhancer has no models (its rules version is {}); leave out `model` or choose a `provider`",
            offline::MODEL
        )));
    }
    Ok(())
}

/// The template's argument values: the caller's, plus `task_id`, plus the
/// rough prompt for the first required argument left empty (so
/// `fix-bug` with `prompt: "login returns 500"` fills `symptom`).
fn template_values(
    template: &templates::PromptTemplate,
    input: &EnhanceInput,
    prompt: &str,
) -> BTreeMap<String, String> {
    let mut values = input.arguments.clone();
    if let Some(task_id) = &input.task_id
        && template.arguments.iter().any(|a| a.name == TASK_ID)
    {
        values.insert(TASK_ID.to_owned(), task_id.to_string());
    }
    if !prompt.is_empty()
        && let Some(slot) = template.arguments.iter().find(|a| {
            a.required
                && a.name != TASK_ID
                && values.get(&a.name).is_none_or(|v| v.trim().is_empty())
        })
    {
        values.insert(slot.name.clone(), prompt.to_owned());
    }
    values
}

/// "test_framework" → "Test framework".
fn label(name: &str) -> String {
    let words = name.replace(['_', '-'], " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn hex_sha256(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// `cache:{hash}` of workspace, provider, model, template and the input as
/// given (prompt, task id, template arguments).
fn cache_key(
    actor: &Actor,
    provider: ProviderKind,
    model: &str,
    template: Option<&str>,
    prompt: &str,
    input: &EnhanceInput,
) -> String {
    let arguments = serde_json::to_string(&input.arguments).unwrap_or_default();
    format!(
        "cache:{}",
        hex_sha256(&[
            "enhance/v1",
            &actor.workspace_id,
            provider.as_str(),
            model,
            template.unwrap_or(""),
            prompt,
            input.task_id.as_deref().unwrap_or(""),
            &arguments,
        ])
    )
}

/// A hash of everything the provider is given: a cached result made from an
/// older task description or template text is not served.
fn fingerprint(request: &EnhanceRequest) -> String {
    hex_sha256(&[
        &messages::user(request),
        &format!("{:?}", request.kind),
        messages::SYSTEM,
    ])
}

fn cache_value(done: &Completed, fingerprint: &str) -> String {
    serde_json::to_string(&CachedValue {
        text: done.text.clone(),
        fingerprint: fingerprint.to_owned(),
        input_tokens: done.input_tokens,
        output_tokens: done.output_tokens,
    })
    .unwrap_or_else(|_| "{}".to_owned())
}

fn expiry(ttl: std::time::Duration) -> String {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(7));
    (Utc::now() + ttl).to_rfc3339_opts(SecondsFormat::Millis, true)
}

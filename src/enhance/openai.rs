//! Any OpenAI-compatible endpoint: `POST {base_url}/chat/completions` with
//! `Authorization: Bearer <key>` (left out when no key is set, for local
//! servers such as Ollama or llama.cpp) and `{"model", "messages",
//! "max_tokens"}`; the text is `choices[0].message.content` and token counts
//! are in `usage`. Errors are `{"error": {"message", "type", "code"}}`; an
//! unknown model is HTTP 404 or code `model_not_found`.

use serde_json::json;

use super::{
    config::ProviderKind,
    messages,
    provider::{
        ApiError, BoxFuture, Completed, EnhanceRequest, HttpProvider, Provider, ProviderError,
        Reply, bad_reply,
    },
};

pub struct OpenAi(pub HttpProvider);

impl Provider for OpenAi {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Openai
    }

    fn enhance<'a>(
        &'a self,
        request: &'a EnhanceRequest,
        model: &'a str,
    ) -> BoxFuture<'a, Result<Completed, ProviderError>> {
        Box::pin(async move {
            let (kind, base) = (self.kind(), &self.0);
            if base.settings.missing.is_some() {
                return Err(base.not_configured(kind));
            }
            let body = json!({
                "model": model,
                "messages": [
                    {"role": "system", "content": messages::SYSTEM},
                    {"role": "user", "content": messages::user(request)},
                ],
                "max_tokens": base.max_tokens,
                "temperature": 0.2,
            });
            let url = format!("{}/chat/completions", base.settings.base_url);
            let secret = base.settings.secret.as_deref();
            let headers = |http: reqwest::RequestBuilder| match secret {
                Some(key) => http.bearer_auth(key),
                None => http,
            };
            let reply = base.post(kind, model, url, &body, headers, failure).await?;
            let Some(text) = reply.body["choices"][0]["message"]["content"]
                .as_str()
                .filter(|t| !t.trim().is_empty())
            else {
                return Err(bad_reply(
                    kind,
                    &reply,
                    "`choices[0].message.content` with text",
                ));
            };
            Ok(Completed::from_reply(
                text,
                &reply.body["usage"],
                "prompt_tokens",
                "completion_tokens",
            ))
        })
    }
}

/// `{"error": {"message", "code"}}` of a non-success reply.
fn failure(reply: &Reply) -> Option<ApiError> {
    if reply.status.is_success() {
        return None;
    }
    let error = &reply.body["error"];
    Some(ApiError {
        message: error["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| reply.raw.clone()),
        model_missing: error["code"].as_str() == Some("model_not_found"),
    })
}

//! Cloudflare Workers AI: `POST {api_base}/accounts/{account}/ai/run/{model}`
//! with `Authorization: Bearer <token>` and `{"messages": [...]}`; the reply
//! is the Cloudflare envelope with the text in `result.response` and token
//! counts in `result.usage`. Errors come as `{"success": false, "errors":
//! [{"code", "message"}]}`; code 5007 (HTTP 400) and 3042 (HTTP 404) mean an
//! unknown model.

use serde_json::json;

use super::{
    config::ProviderKind,
    messages,
    provider::{
        ApiError, BoxFuture, Completed, EnhanceRequest, HttpProvider, Provider, ProviderError,
        Reply, bad_reply,
    },
};

/// Workers AI error codes that mean "no such model".
const UNKNOWN_MODEL_CODES: [i64; 2] = [5007, 3042];

pub struct WorkersAi(pub HttpProvider);

impl Provider for WorkersAi {
    fn kind(&self) -> ProviderKind {
        ProviderKind::WorkersAi
    }

    fn enhance<'a>(
        &'a self,
        request: &'a EnhanceRequest,
        model: &'a str,
    ) -> BoxFuture<'a, Result<Completed, ProviderError>> {
        Box::pin(async move {
            let (kind, base) = (self.kind(), &self.0);
            let (Some(account), Some(token)) = (&base.settings.account_id, &base.settings.secret)
            else {
                return Err(base.not_configured(kind));
            };
            let url = format!(
                "{}/accounts/{account}/ai/run/{model}",
                base.settings.base_url
            );
            let body = json!({
                "messages": [
                    {"role": "system", "content": messages::SYSTEM},
                    {"role": "user", "content": messages::user(request)},
                ],
                "max_tokens": base.max_tokens,
            });
            let headers = |http: reqwest::RequestBuilder| http.bearer_auth(token);
            let reply = base.post(kind, model, url, &body, headers, failure).await?;
            let result = &reply.body["result"];
            // Most text models answer in `result.response`; some newer ones
            // answer in the OpenAI shape inside `result`.
            let text = result["response"]
                .as_str()
                .or_else(|| result["choices"][0]["message"]["content"].as_str())
                .filter(|t| !t.trim().is_empty());
            let Some(text) = text else {
                return Err(bad_reply(kind, &reply, "`result.response` with text"));
            };
            Ok(Completed::from_reply(
                text,
                &result["usage"],
                "prompt_tokens",
                "completion_tokens",
            ))
        })
    }
}

/// The Cloudflare envelope's `errors` of a non-success reply or of one that
/// says `"success": false`.
fn failure(reply: &Reply) -> Option<ApiError> {
    if reply.status.is_success() && reply.body["success"].as_bool() != Some(false) {
        return None;
    }
    let errors = reply.body["errors"].as_array().cloned().unwrap_or_default();
    let model_missing = errors.iter().any(|e| {
        e["code"]
            .as_i64()
            .is_some_and(|c| UNKNOWN_MODEL_CODES.contains(&c))
    });
    let message = if errors.is_empty() {
        reply.raw.clone()
    } else {
        errors
            .iter()
            .map(|e| {
                format!(
                    "{} (code {})",
                    e["message"].as_str().unwrap_or("error"),
                    e["code"]
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    Some(ApiError {
        message,
        model_missing,
    })
}

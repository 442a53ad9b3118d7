//! The params of a protocol request rmcp could not read: what is wrong
//! with them, for a -32602 that says so instead of "method not found".

use rmcp::model::{
    CallToolRequestParams, CompleteRequestParams, GetPromptRequestParams, PaginatedRequestParams,
    ReadResourceRequestParams,
};

/// What is wrong with the params of a protocol method that rmcp refused to
/// read, or `None` if `method` is not one it knows or its params are fine.
/// Only methods every protocol version has: `initialize`, `logging/setLevel`
/// and `resources/(un)subscribe` were removed in 2026-07-28, whose clients
/// must get "method not found" (HTTP 404) for them whatever the params.
pub(super) fn malformed_params(method: &str, params: Option<&serde_json::Value>) -> Option<String> {
    fn problem<T: serde::de::DeserializeOwned>(
        params: Option<&serde_json::Value>,
    ) -> Option<String> {
        let params = params.cloned().unwrap_or(serde_json::Value::Null);
        serde_json::from_value::<T>(params)
            .err()
            .map(|error| error.to_string())
    }
    match method {
        "tools/call" => problem::<CallToolRequestParams>(params).map(|problem| {
            format!(
                "{problem}; send {{\"name\": \"<tool>\", \"arguments\": {{...}}}} (arguments may be left out)"
            )
        }),
        "resources/read" => problem::<ReadResourceRequestParams>(params),
        "prompts/get" => problem::<GetPromptRequestParams>(params),
        "completion/complete" => problem::<CompleteRequestParams>(params),
        "tools/list" | "resources/list" | "resources/templates/list" | "prompts/list" => {
            problem::<PaginatedRequestParams>(params)
        }
        _ => None,
    }
}

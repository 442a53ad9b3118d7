//! Turning a `tools/call`'s arguments into a typed struct, with errors that
//! name the field. Some clients send object and array arguments as JSON text
//! (`"status": "[\"todo\"]"`) or numbers as strings; the input schema tells us
//! what each field should be, so those are accepted and converted first.

use rmcp::model::JsonObject;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;

use super::ToolError;

/// Parses `arguments` into `A`. Malformed arguments give
/// [`ToolError::InvalidParams`] naming the field.
pub fn parse_arguments<A: DeserializeOwned>(
    schema: &JsonObject,
    mut arguments: JsonObject,
) -> Result<A, ToolError> {
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (name, value) in arguments.iter_mut() {
            if let Some(property) = properties.get(name) {
                coerce(value, property);
            }
        }
    }
    serde_path_to_error::deserialize(Value::Object(arguments)).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." || path.is_empty() {
            ToolError::InvalidParams(inner.to_string())
        } else {
            ToolError::InvalidParams(format!("field `{path}`: {inner}"))
        }
    })
}

/// Refuses an update that would change nothing: `fields` are the names of
/// the fields the tool can change, each with whether the call gave it.
pub fn something_to_update(fields: &[(&str, bool)]) -> Result<(), ToolError> {
    if fields.iter().any(|(_, given)| *given) {
        return Ok(());
    }
    let names: Vec<String> = fields.iter().map(|(name, _)| format!("`{name}`")).collect();
    Err(ToolError::InvalidParams(format!(
        "nothing to update: give at least one of {}",
        names.join(", ")
    )))
}

/// The JSON types a property's schema admits ("type" may be a string or a list;
/// an `anyOf` of simple types counts too, which is how schemars writes Option).
fn admitted_types(property: &Value) -> Vec<&str> {
    let mut types = Vec::new();
    match property.get("type") {
        Some(Value::String(t)) => types.push(t.as_str()),
        Some(Value::Array(list)) => types.extend(list.iter().filter_map(Value::as_str)),
        _ => {}
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = property.get(key) {
            for option in options {
                types.extend(admitted_types(option));
            }
        }
    }
    if property.get("$ref").is_some() || property.get("enum").is_some() {
        types.push("string");
    }
    types
}

fn coerce(value: &mut Value, property: &Value) {
    let Value::String(text) = value else { return };
    let types = admitted_types(property);
    if types.contains(&"string") && !types.contains(&"array") && !types.contains(&"object") {
        return;
    }
    let trimmed = text.trim();
    let wants_container = (trimmed.starts_with('[') && types.contains(&"array"))
        || (trimmed.starts_with('{') && types.contains(&"object"));
    let wants_number = types.contains(&"integer") || types.contains(&"number");
    let wants_bool = types.contains(&"boolean");
    let wants_null = trimmed == "null" && types.contains(&"null");
    if (wants_container || wants_number || wants_bool || wants_null)
        && let Ok(parsed) = serde_json::from_str::<Value>(trimmed)
    {
        *value = parsed;
    }
}

/// Checks a text field's length (in characters) and, when `required`, that it
/// is not blank. Returns the text trimmed of surrounding whitespace.
pub fn checked_text(
    field: &str,
    value: &str,
    max_chars: usize,
    required: bool,
) -> Result<String, ToolError> {
    let trimmed = value.trim();
    if required && trimmed.is_empty() {
        return Err(ToolError::InvalidParams(format!(
            "field `{field}` must not be empty"
        )));
    }
    let chars = trimmed.chars().count();
    if chars > max_chars {
        return Err(ToolError::InvalidParams(format!(
            "field `{field}` is {chars} characters long; the limit is {max_chars}. Shorten it (put long text in the description)"
        )));
    }
    Ok(trimmed.to_owned())
}

/// Checks a count field (a page size, a number of lines): `value`, or
/// `default` when absent, must be between 1 and `max`. `unit` follows the
/// maximum in the message (" bytes", or "" for none).
pub fn checked_count<T>(
    field: &str,
    value: Option<T>,
    default: T,
    max: T,
    unit: &str,
) -> Result<T, ToolError>
where
    T: Copy + PartialOrd + From<u8> + std::fmt::Display,
{
    let value = value.unwrap_or(default);
    if value < T::from(1) || value > max {
        return Err(ToolError::InvalidParams(format!(
            "field `{field}` is {value}; it must be between 1 and {max}{unit}"
        )));
    }
    Ok(value)
}

/// Decodes a page cursor with `decode`: `None` for the first page (absent or
/// empty), an error naming `tool` for a cursor this server did not issue.
pub fn checked_cursor<C>(
    tool: &str,
    cursor: Option<&str>,
    decode: impl FnOnce(&str) -> Option<C>,
) -> Result<Option<C>, ToolError> {
    match cursor {
        None | Some("") => Ok(None),
        Some(cursor) => decode(cursor).map(Some).ok_or_else(|| {
            ToolError::InvalidParams(format!(
                "field `cursor` is not a cursor this server issued; pass the `next_cursor` of a previous {tool} \
                 result, or leave it out for the first page"
            ))
        }),
    }
}

/// Distinguishes a field that is absent from one set to `null`: absent is
/// `None`, null is `Some(None)`.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Example {
        name: String,
        tags: Option<Vec<String>>,
        limit: Option<u32>,
    }

    fn schema() -> JsonObject {
        rmcp::handler::server::common::schema_for_input::<Example>()
            .expect("object schema")
            .as_ref()
            .clone()
    }

    fn parse(value: Value) -> Result<Example, ToolError> {
        let Value::Object(map) = value else {
            panic!("object")
        };
        parse_arguments(&schema(), map)
    }

    #[test]
    fn json_text_for_arrays_and_numbers_is_accepted() {
        let parsed = parse(json!({"name": "[not parsed]", "tags": "[\"a\",\"b\"]", "limit": "7"}))
            .expect("parses");
        assert_eq!(parsed.name, "[not parsed]");
        assert_eq!(parsed.tags, Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(parsed.limit, Some(7));
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse(json!({"name": "x", "limit": "many"})).expect_err("bad limit");
        assert!(err.to_string().contains("`limit`"), "{err}");
        let err = parse(json!({"limit": 3})).expect_err("missing name");
        assert!(err.to_string().contains("name"), "{err}");
        let err = parse(json!({"name": "x", "nmae": 1})).expect_err("unknown field");
        assert!(err.to_string().contains("nmae"), "{err}");
    }
}

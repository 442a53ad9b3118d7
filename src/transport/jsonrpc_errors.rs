//! JSON-RPC errors for messages rmcp never gets to see, shared by stdio and
//! HTTP. rmcp drops a line it cannot parse, so a client would wait forever;
//! here every malformed message is answered: -32700 (parse error) when the
//! text is not JSON — a lone surrogate escape such as `"\ud800"` (a cut
//! emoji from a JavaScript client), a raw NUL, invalid UTF-8, nesting past
//! the parser's depth, a number out of range — and -32600 (invalid request)
//! when it is JSON but not a JSON-RPC message. The reply carries the
//! message's `id` when one can be read, even from text that is not JSON
//! (a lenient scan for the top-level `"id"`), and `id: null` otherwise.

use rmcp::model::ClientJsonRpcMessage;
use serde::Deserialize;
use serde_json::{Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;

/// A JSON-RPC error response.
pub fn error(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// The error for text that is not JSON, with the id scanned from it.
pub fn parse_error(text: &[u8], problem: &serde_json::Error) -> Value {
    error(
        recover_id(text),
        PARSE_ERROR,
        &format!(
            "the message is not valid JSON ({problem}); send UTF-8 JSON without lone surrogate escapes, \
             raw control characters or numbers out of range"
        ),
    )
}

/// Reads a parsed JSON value as a client message, or says why it is not one.
pub fn to_message(value: Value) -> Result<ClientJsonRpcMessage, Value> {
    check_kind(&value)?;
    let id = readable_id(&value);
    serde_json::from_value::<ClientJsonRpcMessage>(value)
        .map_err(|problem| not_a_message(id, &problem))
}

/// Whether a parsed JSON value is a client message; if not, the reply.
pub fn check(value: &Value) -> Result<(), Value> {
    check_kind(value)?;
    ClientJsonRpcMessage::deserialize(value)
        .map(drop)
        .map_err(|problem| not_a_message(readable_id(value), &problem))
}

fn readable_id(value: &Value) -> Value {
    match value.get("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => id.clone(),
        _ => Value::Null,
    }
}

fn check_kind(value: &Value) -> Result<(), Value> {
    match value {
        Value::Object(_) => Ok(()),
        Value::Array(_) => Err(error(
            Value::Null,
            INVALID_REQUEST,
            "batches (JSON arrays) are not supported; send one JSON-RPC message at a time",
        )),
        _ => Err(error(
            Value::Null,
            INVALID_REQUEST,
            "a JSON-RPC message is a JSON object with \"jsonrpc\": \"2.0\"",
        )),
    }
}

fn not_a_message(id: Value, problem: &serde_json::Error) -> Value {
    error(
        id,
        INVALID_REQUEST,
        &format!(
            "not a JSON-RPC 2.0 message ({problem}); a request needs \"jsonrpc\": \"2.0\", \
             an \"id\" (string or integer) and a \"method\""
        ),
    )
}

/// Checks a POST body before rmcp reads it: one JSON-RPC message, or the
/// JSON-RPC error to answer (over HTTP with 400, as the spec suggests).
pub fn check_body(body: &[u8]) -> Result<Value, Value> {
    let value: Value =
        serde_json::from_slice(body).map_err(|problem| parse_error(body, &problem))?;
    check(&value)?;
    Ok(value)
}

/// The `id` of the top-level object in `text`, read without trusting the
/// rest of the text to be JSON: a string or an integer, else `null`.
pub fn recover_id(text: &[u8]) -> Value {
    scan_id(text).unwrap_or(Value::Null)
}

fn scan_id(text: &[u8]) -> Option<Value> {
    let start = skip_ws(text, 0);
    if text.get(start) != Some(&b'{') {
        return None;
    }
    let mut depth = 0usize;
    let mut i = start;
    while i < text.len() {
        match text[i] {
            b'"' => {
                let end = string_end(text, i)?;
                if depth == 1 && &text[i..end] == b"\"id\"" {
                    let colon = skip_ws(text, end);
                    if text.get(colon) == Some(&b':') {
                        return id_value(text, skip_ws(text, colon + 1));
                    }
                }
                i = end;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    // The end of the first message: its id is not there.
                    return None;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index just past the string that starts at `start` (a quote).
fn string_end(text: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while text.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

fn id_value(text: &[u8], at: usize) -> Option<Value> {
    match *text.get(at)? {
        b'"' => {
            let end = string_end(text, at)?;
            let id: String = serde_json::from_slice(&text[at..end]).ok()?;
            Some(Value::String(id))
        }
        b'-' | b'0'..=b'9' => {
            let len = text[at..]
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b'-')
                .count();
            let id: i64 = std::str::from_utf8(&text[at..at + len])
                .ok()?
                .parse()
                .ok()?;
            // 7.5 or 1e3 is not an integer id.
            match text.get(at + len) {
                Some(b'.' | b'e' | b'E') => None,
                _ => Some(Value::from(id)),
            }
        }
        _ => None,
    }
}

/// The `id` of a top-level object whose end is `tail` (`…,"id":7}`), for a
/// message too long to keep whole: a JavaScript client writes `id` last.
pub fn recover_trailing_id(tail: &[u8]) -> Value {
    scan_trailing_id(tail).unwrap_or(Value::Null)
}

fn scan_trailing_id(tail: &[u8]) -> Option<Value> {
    let end = trim_end(tail, tail.len());
    if end == 0 || tail[end - 1] != b'}' {
        return None;
    }
    let value_end = trim_end(tail, end - 1);
    let value_start = match *tail.get(value_end.checked_sub(1)?)? {
        b'"' => {
            // Back to the opening quote (an id holds no escaped quotes).
            tail[..value_end - 1].iter().rposition(|b| *b == b'"')?
        }
        b'0'..=b'9' => {
            value_end
                - tail[..value_end]
                    .iter()
                    .rev()
                    .take_while(|b| b.is_ascii_digit() || **b == b'-')
                    .count()
        }
        _ => return None,
    };
    let colon = trim_end(tail, value_start);
    if colon == 0 || tail[colon - 1] != b':' {
        return None;
    }
    let key_end = trim_end(tail, colon - 1);
    let key_start = key_end.checked_sub(4)?;
    if &tail[key_start..key_end] != b"\"id\"" {
        return None;
    }
    let before = trim_end(tail, key_start);
    if before == 0 || !matches!(tail[before - 1], b',' | b'{') {
        return None;
    }
    id_value(tail, value_start)
}

fn trim_end(text: &[u8], mut end: usize) -> usize {
    while end > 0 && text[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_recovered_from_text_that_is_not_json() {
        assert_eq!(
            recover_id(br#"{"jsonrpc":"2.0","id":7,"method":"x\ud800"}"#),
            json!(7)
        );
        assert_eq!(
            recover_id(b"{\"method\":\"a\xff\xfe\",\"id\":\"req-1\"}"),
            json!("req-1")
        );
        assert_eq!(
            recover_id(br#"{"params":{"id":3},"x":1e400,"id":-4}"#),
            json!(-4),
            "only the top-level id counts"
        );
        assert_eq!(recover_id(br#"{"params":{"id":3}}"#), Value::Null);
        assert_eq!(recover_id(br#"{"id":1.5}"#), Value::Null);
        assert_eq!(recover_id(br#"{"id":{"a":1}}"#), Value::Null);
        assert_eq!(recover_id(br#"[{"id":1}]"#), Value::Null);
        assert_eq!(recover_id(b"garbage"), Value::Null);
        assert_eq!(
            recover_id(br#"{"method":"id","id":2}"#),
            json!(2),
            "a value \"id\" is not the key"
        );
        let deep = format!("{{\"id\":9,\"p\":{}{}}}", "[".repeat(500), "]".repeat(500));
        assert_eq!(recover_id(deep.as_bytes()), json!(9));
    }

    #[test]
    fn trailing_ids_are_recovered_from_the_end_of_a_long_message() {
        assert_eq!(recover_trailing_id(br#"xxxxx"}},"id":12}"#), json!(12));
        assert_eq!(
            recover_trailing_id(b"xxxx\"} , \"id\" : \"abc\" }\n"),
            json!("abc")
        );
        assert_eq!(
            recover_trailing_id(br#"xxxxx,"p":{"id":12}}"#),
            Value::Null,
            "a nested id is not the message's"
        );
        assert_eq!(recover_trailing_id(b"xxxx"), Value::Null);
    }

    #[test]
    fn json_that_is_not_a_message_is_an_invalid_request() {
        let reply = to_message(json!({"jsonrpc": "2.0", "id": 5})).expect_err("no method");
        assert_eq!(reply["id"], 5);
        assert_eq!(reply["error"]["code"], INVALID_REQUEST);
        let reply = to_message(json!([1, 2])).expect_err("batch");
        assert_eq!(reply["id"], Value::Null);
        let reply = to_message(json!("hello")).expect_err("string");
        assert_eq!(reply["error"]["code"], INVALID_REQUEST);
        assert!(to_message(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).is_ok());
    }
}

//! What a coding agent concluded in a turn, read from its own output as the
//! supervisor forwards it (never by re-reading the log): the final message,
//! token usage, cost and the number of tool calls.
//!
//! Each built-in CLI prints JSON lines in its documented format:
//! - Claude Code (`--output-format stream-json`): `assistant` messages whose
//!   content holds `text` and `tool_use` blocks, and a closing `result`
//!   object with `result` (the final message), `usage` and `total_cost_usd`;
//! - Codex (`exec --json`): `item.completed` events whose item is an
//!   `agent_message` (its `text`) or a tool item (`command_execution`,
//!   `file_change`, `mcp_tool_call`, `web_search`), and `turn.completed`
//!   with `usage`;
//! - Gemini CLI (`--output-format stream-json`): assistant `message` events
//!   (streamed in `delta` pieces), `tool_use` events and a closing `result`
//!   with `stats` (tokens, tool calls).
//!
//! A custom executor may name the JSON field that holds its final message
//! (`final_message_field`); without one, or when a turn printed no such
//! message, the last non-empty lines of plain text are the final message.

use std::collections::{HashSet, VecDeque};

use serde::Deserialize;
use serde_json::Value;

use crate::store::FinalMessageSource;

/// Longest final message kept, in bytes; a longer one keeps its end.
pub const MAX_FINAL_MESSAGE: usize = 32 * 1024;
/// How many non-empty plain-text lines the fallback keeps, and their bytes.
const FALLBACK_LINES: usize = 5;
const FALLBACK_BYTES: usize = 2048;
/// Longest line parsed as JSON; the rest of a longer one is skipped.
const MAX_JSON_LINE: usize = 8 * 1024 * 1024;
/// Most tool call ids remembered to count each call once.
const MAX_TOOL_IDS: usize = 100_000;

/// The structured output format of an agent CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputFormat {
    /// `claude --print --output-format stream-json --verbose`.
    ClaudeStreamJson,
    /// `codex exec --json`.
    CodexJson,
    /// `gemini --output-format stream-json`.
    GeminiStreamJson,
}

/// What one turn's agent output said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TurnSummary {
    pub final_message: Option<String>,
    pub source: Option<FinalMessageSource>,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    /// Counted where the output format shows tool calls.
    pub tool_calls: Option<i64>,
    /// The agent's conversation id at the end of the turn.
    pub agent_session_id: Option<String>,
}

/// Reads an agent's stdout piece by piece (the supervisor's pieces: lines,
/// or parts of a very long line) and keeps what the turn summary needs.
#[derive(Debug)]
pub struct OutputParser {
    format: Option<OutputFormat>,
    field: Option<String>,
    /// The agent prints JSON lines (of its own format, or with its
    /// conversation id): those are not plain text for the fallback.
    json_lines: bool,
    /// The line being assembled from pieces.
    partial: Vec<u8>,
    /// The current line went past [`MAX_JSON_LINE`]: skip to its end.
    skipping: bool,
    fallback: VecDeque<String>,
    /// A final message from a closing event (`result`).
    result: Option<String>,
    /// The last assistant text (and, for Gemini, the pieces of it).
    last_text: Option<String>,
    /// Gemini streams the assistant message in pieces until another event.
    text_open: bool,
    tool_ids: HashSet<String>,
    tool_calls: i64,
    reported_tool_calls: Option<i64>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cost_usd: Option<f64>,
}

impl OutputParser {
    /// A parser for an agent that prints `format` (if any), with its final
    /// message in `final_message_field` (if set); `json_lines` says it prints
    /// other JSON lines (e.g. its conversation id) besides plain text.
    pub fn new(
        format: Option<OutputFormat>,
        final_message_field: Option<&str>,
        json_lines: bool,
    ) -> Self {
        let field = final_message_field
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned);
        OutputParser {
            format,
            json_lines: json_lines || format.is_some() || field.is_some(),
            field,
            partial: Vec::new(),
            skipping: false,
            fallback: VecDeque::new(),
            result: None,
            last_text: None,
            text_open: false,
            tool_ids: HashSet::new(),
            tool_calls: 0,
            reported_tool_calls: None,
            input_tokens: None,
            output_tokens: None,
            cost_usd: None,
        }
    }

    /// Takes one piece of stdout: a whole line (ending in a newline) or part
    /// of a longer one.
    pub fn feed(&mut self, piece: &[u8]) {
        if self.skipping {
            if piece.ends_with(b"\n") {
                self.skipping = false;
            }
            return;
        }
        self.partial.extend_from_slice(piece);
        if !piece.ends_with(b"\n") {
            if self.partial.len() > MAX_JSON_LINE {
                self.partial.clear();
                self.skipping = true;
            }
            return;
        }
        let line = std::mem::take(&mut self.partial);
        let line = String::from_utf8_lossy(&line);
        self.line(line.trim());
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            return;
        }
        if self.json_lines
            && line.starts_with('{')
            && let Ok(Value::Object(event)) = serde_json::from_str::<Value>(line)
        {
            let event = Value::Object(event);
            if let Some(field) = self.field.clone()
                && let Some(text) = event.get(&field).and_then(Value::as_str)
            {
                self.result = Some(text.to_owned());
            }
            match self.format {
                Some(OutputFormat::ClaudeStreamJson) => self.claude(&event),
                Some(OutputFormat::CodexJson) => self.codex(&event),
                Some(OutputFormat::GeminiStreamJson) => self.gemini(&event),
                None => {}
            }
            return;
        }
        self.fallback.push_back(line.to_owned());
        while self.fallback.len() > FALLBACK_LINES {
            self.fallback.pop_front();
        }
    }

    fn count_tool(&mut self, id: Option<&str>) {
        match id {
            Some(id) if self.tool_ids.len() < MAX_TOOL_IDS => {
                if self.tool_ids.insert(id.to_owned()) {
                    self.tool_calls += 1;
                }
            }
            _ => self.tool_calls += 1,
        }
    }

    fn claude(&mut self, event: &Value) {
        match event["type"].as_str() {
            // The main conversation's messages (a sub-agent's carry the id of
            // the tool call that started it).
            Some("assistant") if event["parent_tool_use_id"].is_null() => {
                let blocks = event["message"]["content"].as_array().cloned();
                let mut text = Vec::new();
                for block in blocks.iter().flatten() {
                    match block["type"].as_str() {
                        Some("text") => text.extend(block["text"].as_str().map(str::to_owned)),
                        Some("tool_use") => self.count_tool(block["id"].as_str()),
                        _ => {}
                    }
                }
                let text = text.join("\n");
                if !text.trim().is_empty() {
                    self.last_text = Some(text);
                }
            }
            Some("assistant") => {
                for block in event["message"]["content"].as_array().into_iter().flatten() {
                    if block["type"] == "tool_use" {
                        self.count_tool(block["id"].as_str());
                    }
                }
            }
            Some("result") => {
                if let Some(text) = event["result"].as_str().filter(|t| !t.trim().is_empty()) {
                    self.result = Some(text.to_owned());
                }
                let usage = &event["usage"];
                self.input_tokens = usage["input_tokens"].as_i64().or(self.input_tokens);
                self.output_tokens = usage["output_tokens"].as_i64().or(self.output_tokens);
                self.cost_usd = event["total_cost_usd"].as_f64().or(self.cost_usd);
            }
            _ => {}
        }
    }

    fn codex(&mut self, event: &Value) {
        match event["type"].as_str() {
            Some("item.completed") => {
                let item = &event["item"];
                match item["type"].as_str() {
                    Some("agent_message") => {
                        if let Some(text) = item["text"].as_str().filter(|t| !t.trim().is_empty()) {
                            self.last_text = Some(text.to_owned());
                        }
                    }
                    Some("command_execution" | "file_change" | "mcp_tool_call" | "web_search") => {
                        self.count_tool(item["id"].as_str());
                    }
                    _ => {}
                }
            }
            Some("turn.completed") => {
                let usage = &event["usage"];
                add(&mut self.input_tokens, usage["input_tokens"].as_i64());
                add(&mut self.output_tokens, usage["output_tokens"].as_i64());
            }
            _ => {}
        }
    }

    fn gemini(&mut self, event: &Value) {
        match event["type"].as_str() {
            Some("message") if event["role"] == "assistant" => {
                let piece = event["content"].as_str().unwrap_or_default();
                let streamed = event["delta"].as_bool().unwrap_or(false);
                match (&mut self.last_text, self.text_open && streamed) {
                    (Some(text), true) => {
                        if text.len() < 2 * MAX_FINAL_MESSAGE {
                            text.push_str(piece);
                        }
                    }
                    _ => self.last_text = Some(piece.to_owned()),
                }
                self.text_open = streamed;
                return;
            }
            Some("tool_use") => self.count_tool(event["tool_id"].as_str()),
            Some("result") => {
                let stats = &event["stats"];
                self.input_tokens = stats["input_tokens"].as_i64().or(self.input_tokens);
                self.output_tokens = stats["output_tokens"].as_i64().or(self.output_tokens);
                self.reported_tool_calls = stats["tool_calls"].as_i64();
            }
            _ => {}
        }
        self.text_open = false;
    }

    /// The turn's summary once the agent has ended.
    pub fn finish(mut self) -> TurnSummary {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(String::from_utf8_lossy(&line).trim());
        }
        let structured = self
            .result
            .take()
            .or(self.last_text.take())
            .filter(|t| !t.trim().is_empty());
        let (final_message, source) = match structured {
            Some(text) => (Some(text), Some(FinalMessageSource::AgentJson)),
            None if !self.fallback.is_empty() => {
                let lines: Vec<String> = self.fallback.drain(..).collect();
                (
                    Some(keep_end(&lines.join("\n"), FALLBACK_BYTES)),
                    Some(FinalMessageSource::LastLines),
                )
            }
            None => (None, None),
        };
        TurnSummary {
            final_message: final_message.map(|m| keep_end(m.trim(), MAX_FINAL_MESSAGE)),
            source,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cost_usd: self.cost_usd,
            tool_calls: match self.format {
                Some(_) => Some(self.reported_tool_calls.unwrap_or(self.tool_calls)),
                None => None,
            },
            agent_session_id: None,
        }
    }
}

fn add(total: &mut Option<i64>, more: Option<i64>) {
    if let Some(more) = more {
        *total = Some(total.unwrap_or(0).saturating_add(more));
    }
}

/// The last `max` bytes of `text` (cut at a character boundary).
fn keep_end(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(format: Option<OutputFormat>, field: Option<&str>, lines: &[&str]) -> TurnSummary {
        let mut parser = OutputParser::new(format, field, false);
        for line in lines {
            parser.feed(format!("{line}\n").as_bytes());
        }
        parser.finish()
    }

    #[test]
    fn claude_code_result_and_usage() {
        let summary = parse(
            Some(OutputFormat::ClaudeStreamJson),
            None,
            &[
                r#"{"type":"system","subtype":"init","session_id":"s"}"#,
                r#"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"Write"}]},"parent_tool_use_id":null}"#,
                r#"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"t1","name":"Write"}]},"parent_tool_use_id":null}"#,
                r#"{"type":"assistant","message":{"content":[{"type":"text","text":"Done."}]},"parent_tool_use_id":null}"#,
                r#"{"type":"result","subtype":"success","result":"All done.","usage":{"input_tokens":24,"output_tokens":16},"total_cost_usd":0.5}"#,
            ],
        );
        assert_eq!(summary.final_message.as_deref(), Some("All done."));
        assert_eq!(summary.source, Some(FinalMessageSource::AgentJson));
        assert_eq!(
            (
                summary.input_tokens,
                summary.output_tokens,
                summary.cost_usd
            ),
            (Some(24), Some(16), Some(0.5))
        );
        assert_eq!(summary.tool_calls, Some(1));
        // Without a result event, the last assistant text.
        let summary = parse(
            Some(OutputFormat::ClaudeStreamJson),
            None,
            &[
                r#"{"type":"assistant","message":{"content":[{"type":"text","text":"Last words"}]},"parent_tool_use_id":null}"#,
                r#"{"type":"assistant","message":{"content":[{"type":"text","text":"a sub-agent"}]},"parent_tool_use_id":"t9"}"#,
            ],
        );
        assert_eq!(summary.final_message.as_deref(), Some("Last words"));
    }

    #[test]
    fn codex_agent_message_and_usage() {
        let summary = parse(
            Some(OutputFormat::CodexJson),
            None,
            &[
                r#"{"type":"thread.started","thread_id":"th"}"#,
                r#"{"type":"item.completed","item":{"id":"item_0","type":"file_change","changes":[]}}"#,
                r#"{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"Written."}}"#,
                r#"{"type":"turn.completed","usage":{"input_tokens":24,"cached_input_tokens":0,"output_tokens":16}}"#,
            ],
        );
        assert_eq!(summary.final_message.as_deref(), Some("Written."));
        assert_eq!(
            (summary.input_tokens, summary.output_tokens),
            (Some(24), Some(16))
        );
        assert_eq!((summary.cost_usd, summary.tool_calls), (None, Some(1)));
    }

    #[test]
    fn gemini_streamed_message_and_stats() {
        let summary = parse(
            Some(OutputFormat::GeminiStreamJson),
            None,
            &[
                r#"{"type":"message","role":"assistant","content":"Early","delta":true}"#,
                r#"{"type":"tool_use","tool_name":"write_file","tool_id":"w1"}"#,
                r#"{"type":"message","role":"assistant","content":"The file ","delta":true}"#,
                r#"{"type":"message","role":"assistant","content":"is written.","delta":true}"#,
                r#"{"type":"result","status":"success","stats":{"input_tokens":36,"output_tokens":24,"tool_calls":1}}"#,
            ],
        );
        assert_eq!(
            summary.final_message.as_deref(),
            Some("The file is written.")
        );
        assert_eq!(
            (summary.input_tokens, summary.tool_calls),
            (Some(36), Some(1))
        );
    }

    #[test]
    fn a_declared_field_or_the_last_lines() {
        let summary = parse(
            None,
            Some("summary"),
            &[r#"{"summary":"first"}"#, "noise", r#"{"summary":"second"}"#],
        );
        assert_eq!(summary.final_message.as_deref(), Some("second"));
        assert_eq!(summary.source, Some(FinalMessageSource::AgentJson));
        let lines: Vec<String> = (1..=9).map(|i| format!("line {i}")).collect();
        let mut with_blank: Vec<&str> = lines.iter().map(String::as_str).collect();
        with_blank.push("   ");
        let summary = parse(None, None, &with_blank);
        assert_eq!(
            summary.final_message.as_deref(),
            Some("line 5\nline 6\nline 7\nline 8\nline 9")
        );
        assert_eq!(summary.source, Some(FinalMessageSource::LastLines));
        assert_eq!(summary.tool_calls, None);
        assert_eq!(parse(None, None, &[]).final_message, None);
        // An agent that prints its conversation id as JSON: not plain text.
        let mut parser = OutputParser::new(None, None, true);
        parser.feed(b"{\"session_id\":\"c-1\"}\n");
        parser.feed(b"all done\n");
        assert_eq!(parser.finish().final_message.as_deref(), Some("all done"));
    }

    #[test]
    fn long_lines_are_joined_from_pieces() {
        let text = "x".repeat(40_000);
        let line = format!(r#"{{"type":"result","result":"{text}"}}"#);
        let mut parser = OutputParser::new(Some(OutputFormat::ClaudeStreamJson), None, false);
        for piece in line.as_bytes().chunks(16 * 1024) {
            parser.feed(piece);
        }
        parser.feed(b"\n");
        let summary = parser.finish();
        let message = summary.final_message.expect("message");
        assert!(
            message.len() <= MAX_FINAL_MESSAGE + '…'.len_utf8(),
            "{}",
            message.len()
        );
        assert!(message.ends_with("xxx"));
    }
}

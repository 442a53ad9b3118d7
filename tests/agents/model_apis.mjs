// A scripted model behind the three model APIs the built-in agent CLIs call,
// on loopback, for tests/it/agent_clis.rs. It speaks each API's documented
// streaming wire format:
//   POST /v1/messages                     Anthropic Messages (SSE: message_start,
//                                         content_block_start/delta/stop,
//                                         message_delta, message_stop)
//   POST /v1/messages/count_tokens        Anthropic token counting
//   POST /v1/responses                    OpenAI Responses (SSE: response.created,
//                                         response.output_item.added/done,
//                                         response.output_text.delta,
//                                         response.completed)
//   POST /v1beta/models/M:streamGenerateContent?alt=sse   Gemini (SSE chunks)
//   POST /v1beta/models/M:generateContent / :countTokens  Gemini, not streamed
//
//   node tests/agents/model_apis.mjs
//
// The first line on stdout is JSON: {"url"} and the script's markers, file
// and sentences (below). The process exits when its stdin closes, so it
// never outlives the test that started it.
//
// The script, the same for every API (markers are in the prompts the test
// sends):
//   - the newest user turn carries a tool result  -> the final sentence
//     (FOLLOW_UP_SENTENCE when the conversation holds FOLLOW_UP_MARKER);
//   - the newest user turn holds TOUCH_MARKER=PATH -> (Codex) its shell tool
//     runs `touch PATH`;
//   - (Anthropic) the conversation holds COMMENT_MARKER and has not called
//     COMMENT_TOOL yet -> two calls of the session server's COMMENT_TOOL:
//     COMMENT_BODY on the agent's own task and, when it holds
//     ELSEWHERE_MARKER=ID, one naming task ID; when the tool is deferred
//     (Claude Code's tool search), first a ToolSearch call that loads it, as
//     a model does; a text saying the tool is missing otherwise;
//   - the newest user turn holds WRITE_MARKER     -> a call of the agent's own
//     file-writing tool: write WRITE_FILE with WRITE_CONTENT in the working
//     directory named in the system prompt / environment context;
//   - the newest user turn holds FOLLOW_UP_MARKER -> FOLLOW_UP_SENTENCE;
//   - anything else (titles, topic checks, ...)    -> a short "ok";
//   - Gemini requests that ask for JSON of a schema (its model router) -> an
//     object of that shape.
// Requests without credentials get each API's 401 (Anthropic, OpenAI).
//
// Control endpoint: GET /__standin/requests -> every request seen (method,
// path, parsed body, and whether the path was unexpected).

import http from "node:http";

const WRITE_MARKER = "VK-WRITE-THE-FILE";
// "VK-TOUCH-OUTSIDE=/some/path": Codex runs `touch /some/path` with its shell
// tool (its sandbox must refuse a path outside the worktree).
const TOUCH_MARKER = "VK-TOUCH-OUTSIDE";
const FOLLOW_UP_MARKER = "VK-FOLLOW-UP";
const COMMENT_MARKER = "VK-COMMENT-ON-YOUR-TASK";
const ELSEWHERE_MARKER = "VK-COMMENT-ELSEWHERE";
const COMMENT_TOOL = "mcp__vk_session__add_comment";
const COMMENT_BODY = "Progress from the agent: the outline is done.";
const WRITE_FILE = "agent-wrote-this.txt";
const WRITE_CONTENT = "written by the agent's own tool\n";
const DONE_SENTENCE = "The file agent-wrote-this.txt is written and the task is done.";
const FOLLOW_UP_SENTENCE = "Follow-up answered: I remember writing agent-wrote-this.txt.";

const requests = [];
let counter = 0;
const nextId = (prefix) => `${prefix}_${++counter}`;

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sse(res, events) {
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  for (const [event, data] of events) {
    if (event) res.write(`event: ${event}\n`);
    res.write(`data: ${JSON.stringify(data)}\n\n`);
  }
  res.end();
}

function json(res, status, body, headers = {}) {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}

// The working directory the agent announces to the model.
function workingDirectory(text) {
  const patterns = [
    /Primary working directory: (\S+)/,
    /Working directory: (\S+)/,
    /<cwd>([^<]+)<\/cwd>/,
    /Workspace Directories:\*\*\n\s*- (\S+)/,
    /"cwd":\s*"([^"]+)"/,
    /working directory[^\n/]*?(\/[^\s'"`<>]+)/i,
    /directory: (\/\S+)/,
  ];
  for (const pattern of patterns) {
    const m = text.match(pattern);
    if (m) return m[1].replace(/[.,;:]+$/, "");
  }
  return null;
}

// What the scripted model says next: {kind: "tool", dir} or {kind: "text", text}.
function decide({ lastUserHasToolResult, lastUserText, allText, systemText }) {
  if (lastUserHasToolResult) {
    return {
      kind: "text",
      text: allText.includes(FOLLOW_UP_MARKER) ? FOLLOW_UP_SENTENCE : DONE_SENTENCE,
    };
  }
  const touch = lastUserText.match(new RegExp(`${TOUCH_MARKER}=(\\S+)`));
  if (touch) return { kind: "touch", path: touch[1] };
  if (lastUserText.includes(WRITE_MARKER)) {
    const dir = workingDirectory(systemText) ?? workingDirectory(allText);
    return { kind: "tool", dir };
  }
  if (lastUserText.includes(FOLLOW_UP_MARKER)) {
    return { kind: "text", text: FOLLOW_UP_SENTENCE };
  }
  return { kind: "text", text: "ok" };
}

// Every string inside a JSON value, one a line.
function textOf(value) {
  if (typeof value === "string") return value;
  if (Array.isArray(value)) return value.map(textOf).join("\n");
  if (value && typeof value === "object") return Object.values(value).map(textOf).join("\n");
  return "";
}

// ---- Anthropic Messages -------------------------------------------------

// The comment script's next step, or null when the conversation is not one.
function commentStep(body, messages) {
  const all = textOf(messages);
  if (!all.includes(COMMENT_MARKER)) return null;
  const called = (name) => messages.some((m) => m.role === "assistant" && Array.isArray(m.content)
    && m.content.some((b) => b.type === "tool_use" && b.name === name));
  if (called(COMMENT_TOOL)) return null;
  const tools = (body.tools ?? []).map((t) => t.name);
  if (tools.includes(COMMENT_TOOL)) {
    const elsewhere = all.match(new RegExp(`${ELSEWHERE_MARKER}=([0-9a-f-]+)`));
    return { kind: "comment", elsewhere: elsewhere ? elsewhere[1] : null };
  }
  if (tools.includes("ToolSearch") && !called("ToolSearch")) return { kind: "search" };
  return { kind: "text", text: `no ${COMMENT_TOOL} among the tools: ${tools.join(", ")}` };
}

function anthropic(body, res) {
  const messages = body.messages ?? [];
  const users = messages.filter((m) => m.role === "user");
  const last = users[users.length - 1] ?? { content: "" };
  const blocks = Array.isArray(last.content) ? last.content : [{ type: "text", text: last.content }];
  const choice = commentStep(body, messages) ?? decide({
    lastUserHasToolResult: blocks.some((b) => b.type === "tool_result"),
    lastUserText: blocks.filter((b) => b.type === "text").map((b) => b.text).join("\n"),
    allText: textOf(messages),
    systemText: textOf(body.system),
  });
  const model = body.model ?? "claude-stand-in";
  const id = nextId("msg");
  let content;
  let stopReason;
  if (choice.kind === "tool") {
    const input = {
      file_path: `${choice.dir ?? "."}/${WRITE_FILE}`,
      content: WRITE_CONTENT,
    };
    content = [{ type: "tool_use", id: nextId("toolu"), name: "Write", input }];
    stopReason = "tool_use";
  } else if (choice.kind === "search") {
    content = [{ type: "tool_use", id: nextId("toolu"), name: "ToolSearch", input: { query: `select:${COMMENT_TOOL}` } }];
    stopReason = "tool_use";
  } else if (choice.kind === "comment") {
    content = [{ type: "tool_use", id: nextId("toolu"), name: COMMENT_TOOL, input: { body: COMMENT_BODY } }];
    if (choice.elsewhere) {
      content.push({
        type: "tool_use", id: nextId("toolu"), name: COMMENT_TOOL,
        input: { body: "A comment on a task that is not mine.", task_id: choice.elsewhere },
      });
    }
    stopReason = "tool_use";
  } else {
    content = [{ type: "text", text: choice.text ?? "ok" }];
    stopReason = "end_turn";
  }
  const usage = { input_tokens: 12, output_tokens: 8 };
  if (!body.stream) {
    return json(res, 200, {
      id, type: "message", role: "assistant", model, content,
      stop_reason: stopReason, stop_sequence: null, usage,
    });
  }
  const events = [[
    "message_start",
    {
      type: "message_start",
      message: {
        id, type: "message", role: "assistant", model, content: [],
        stop_reason: null, stop_sequence: null,
        usage: { input_tokens: 12, output_tokens: 1 },
      },
    },
  ]];
  content.forEach((block, index) => {
    if (block.type === "text") {
      events.push(["content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } }]);
      events.push(["content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: block.text } }]);
    } else {
      events.push(["content_block_start", {
        type: "content_block_start", index,
        content_block: { type: "tool_use", id: block.id, name: block.name, input: {} },
      }]);
      events.push(["content_block_delta", {
        type: "content_block_delta", index,
        delta: { type: "input_json_delta", partial_json: JSON.stringify(block.input) },
      }]);
    }
    events.push(["content_block_stop", { type: "content_block_stop", index }]);
  });
  events.push(["message_delta", {
    type: "message_delta",
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { output_tokens: 8 },
  }]);
  events.push(["message_stop", { type: "message_stop" }]);
  sse(res, events);
}

// ---- OpenAI Responses ---------------------------------------------------

function openai(body, res) {
  const input = Array.isArray(body.input) ? body.input : [];
  // The newest user turn: everything after the last assistant message.
  let start = 0;
  input.forEach((item, i) => {
    if (item.type === "message" && item.role === "assistant") start = i + 1;
  });
  const tail = input.slice(start);
  const userText = tail
    .filter((item) => item.type === "message" && item.role === "user")
    .map((item) => textOf(item.content))
    .join("\n");
  const choice = decide({
    lastUserHasToolResult: tail.some((item) => item.type === "function_call_output" || item.type === "custom_tool_call_output"),
    lastUserText: userText,
    allText: textOf(input),
    systemText: textOf(body.instructions) + textOf(input),
  });
  const responseId = nextId("resp");
  let item;
  const events = [];
  const tools = body.tools ?? [];
  const toolNames = tools.map((t) => t.name ?? t.type);
  if (choice.kind === "touch") {
    const callId = nextId("call");
    item = {
      type: "function_call", id: nextId("fc"), call_id: callId, name: "exec_command",
      arguments: JSON.stringify({ cmd: `touch '${choice.path}'` }), status: "completed",
    };
    events.push(["response.output_item.added", { type: "response.output_item.added", output_index: 0, item: { ...item, status: "in_progress" } }]);
  } else if (choice.kind === "tool") {
    const patch = [
      "*** Begin Patch",
      `*** Add File: ${WRITE_FILE}`,
      ...WRITE_CONTENT.replace(/\n$/, "").split("\n").map((l) => `+${l}`),
      "*** End Patch",
    ].join("\n");
    const applyPatch = tools.find((t) => t.name === "apply_patch");
    const callId = nextId("call");
    if (applyPatch && applyPatch.type === "custom") {
      item = { type: "custom_tool_call", id: nextId("ctc"), call_id: callId, name: "apply_patch", input: patch, status: "completed" };
    } else if (applyPatch) {
      item = { type: "function_call", id: nextId("fc"), call_id: callId, name: "apply_patch", arguments: JSON.stringify({ input: patch }), status: "completed" };
    } else {
      const shell = toolNames.find((n) => n === "shell" || n === "exec_command" || n === "shell_command") ?? "shell";
      const script = `apply_patch <<'EOF'\n${patch}\nEOF\n`;
      const args = shell === "exec_command" ? { cmd: script } : shell === "shell_command" ? { command: script } : { command: ["bash", "-lc", script] };
      item = { type: "function_call", id: nextId("fc"), call_id: callId, name: shell, arguments: JSON.stringify(args), status: "completed" };
    }
    events.push(["response.output_item.added", { type: "response.output_item.added", output_index: 0, item: { ...item, status: "in_progress" } }]);
  } else {
    const msgId = nextId("msg");
    item = {
      type: "message", id: msgId, role: "assistant", status: "completed",
      content: [{ type: "output_text", text: choice.text, annotations: [] }],
    };
    events.push(["response.output_item.added", {
      type: "response.output_item.added", output_index: 0,
      item: { type: "message", id: msgId, role: "assistant", status: "in_progress", content: [] },
    }]);
    events.push(["response.content_part.added", {
      type: "response.content_part.added", item_id: msgId, output_index: 0, content_index: 0,
      part: { type: "output_text", text: "", annotations: [] },
    }]);
    events.push(["response.output_text.delta", {
      type: "response.output_text.delta", item_id: msgId, output_index: 0, content_index: 0, delta: choice.text,
    }]);
    events.push(["response.output_text.done", {
      type: "response.output_text.done", item_id: msgId, output_index: 0, content_index: 0, text: choice.text,
    }]);
    events.push(["response.content_part.done", {
      type: "response.content_part.done", item_id: msgId, output_index: 0, content_index: 0,
      part: { type: "output_text", text: choice.text, annotations: [] },
    }]);
  }
  events.push(["response.output_item.done", { type: "response.output_item.done", output_index: 0, item }]);
  const response = {
    id: responseId, object: "response", created_at: Math.floor(Date.now() / 1000),
    model: body.model ?? "gpt-stand-in", status: "completed", output: [item],
    usage: {
      input_tokens: 12, input_tokens_details: { cached_tokens: 0 },
      output_tokens: 8, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 20,
    },
  };
  events.unshift(["response.created", {
    type: "response.created",
    response: { ...response, status: "in_progress", output: [], usage: null },
  }]);
  events.push(["response.completed", { type: "response.completed", response }]);
  events.forEach(([, data], i) => { data.sequence_number = i; });
  sse(res, events);
}

// ---- Gemini -------------------------------------------------------------

// A value that fits a JSON schema (Gemini's side requests, e.g. its model
// router, ask for JSON of a given shape).
function fitSchema(schema) {
  const type = String(schema?.type ?? "object").toLowerCase();
  if (type === "object") {
    const out = {};
    for (const [name, prop] of Object.entries(schema.properties ?? {})) out[name] = fitSchema(prop);
    return out;
  }
  if (type === "array") return [];
  if (type === "integer" || type === "number") return 10;
  if (type === "boolean") return false;
  if (schema?.enum?.length) return schema.enum[0];
  return "ok";
}

function gemini(body, res, streamed) {
  const config = body.generationConfig ?? {};
  const schema = config.responseJsonSchema ?? config.responseSchema;
  if (schema || config.responseMimeType === "application/json") {
    const text = JSON.stringify(schema ? fitSchema(schema) : {});
    const chunk = {
      candidates: [{ content: { role: "model", parts: [{ text }] }, finishReason: "STOP", index: 0 }],
      usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 8, totalTokenCount: 20 },
    };
    return streamed ? sse(res, [[null, chunk]]) : json(res, 200, chunk);
  }
  const contents = body.contents ?? [];
  const users = contents.filter((c) => c.role === "user" || !c.role);
  const last = users[users.length - 1] ?? { parts: [] };
  const parts = last.parts ?? [];
  const choice = decide({
    lastUserHasToolResult: parts.some((p) => p.functionResponse),
    lastUserText: parts.filter((p) => typeof p.text === "string").map((p) => p.text).join("\n"),
    allText: textOf(contents),
    systemText: textOf(body.systemInstruction ?? body.system_instruction),
  });
  let part;
  let finish = "STOP";
  if (choice.kind === "tool") {
    part = {
      functionCall: {
        name: "write_file",
        args: { file_path: `${choice.dir ?? "."}/${WRITE_FILE}`, content: WRITE_CONTENT },
      },
    };
  } else {
    part = { text: choice.text ?? "ok" };
  }
  const chunk = {
    candidates: [{ content: { role: "model", parts: [part] }, finishReason: finish, index: 0 }],
    usageMetadata: { promptTokenCount: 12, candidatesTokenCount: 8, totalTokenCount: 20 },
    modelVersion: "gemini-stand-in",
    responseId: nextId("gresp"),
  };
  if (!streamed) return json(res, 200, chunk);
  sse(res, [[null, chunk]]);
}

// ---- Server -------------------------------------------------------------

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, "http://127.0.0.1");
  const path = url.pathname;
  if (req.method === "GET" && path === "/__standin/requests") {
    return json(res, 200, requests);
  }
  const raw = await readBody(req);
  let body = null;
  try {
    body = raw ? JSON.parse(raw) : null;
  } catch {
    body = raw;
  }
  const record = { method: req.method, path, query: url.search, body, unexpected: false };
  requests.push(record);
  const auth = req.headers["authorization"] ?? req.headers["x-api-key"];
  try {
    // Both APIs answer a request without credentials with 401 and this body.
    if (path.startsWith("/v1/messages") && !auth) {
      return json(res, 401, {
        type: "error",
        error: { type: "authentication_error", message: "x-api-key header is required" },
      });
    }
    if (path === "/v1/responses" && !req.headers["authorization"]) {
      return json(res, 401, {
        error: {
          message: "Missing bearer authentication in header", type: "invalid_request_error",
          param: null, code: null,
        },
      });
    }
    if (req.method === "POST" && path === "/v1/messages") return anthropic(body ?? {}, res);
    if (req.method === "POST" && path === "/v1/messages/count_tokens") {
      return json(res, 200, { input_tokens: 12 });
    }
    if (req.method === "POST" && path === "/v1/responses") return openai(body ?? {}, res);
    const g = path.match(/^\/v1(beta|alpha)?\/models\/([^/:]+):(\w+)$/);
    if (req.method === "POST" && g) {
      if (g[3] === "streamGenerateContent") return gemini(body ?? {}, res, true);
      if (g[3] === "generateContent") return gemini(body ?? {}, res, false);
      if (g[3] === "countTokens") return json(res, 200, { totalTokens: 12 });
    }
  } catch (e) {
    record.error = String(e?.stack ?? e);
    return json(res, 500, { error: { message: `stand-in failed: ${e}` } });
  }
  record.unexpected = true;
  json(res, 404, {
    error: { type: "not_found_error", message: `the model stand-in does not serve ${req.method} ${path}` },
  });
});

server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  const script = {
    write_marker: WRITE_MARKER,
    touch_marker: TOUCH_MARKER,
    follow_up_marker: FOLLOW_UP_MARKER,
    comment_marker: COMMENT_MARKER,
    elsewhere_marker: ELSEWHERE_MARKER,
    comment_body: COMMENT_BODY,
    file: WRITE_FILE,
    content: WRITE_CONTENT,
    done_sentence: DONE_SENTENCE,
    follow_up_sentence: FOLLOW_UP_SENTENCE,
  };
  process.stdout.write(JSON.stringify({ url: `http://127.0.0.1:${port}`, ...script }) + "\n");
});
process.stdin.on("end", () => process.exit(0));
process.stdin.on("close", () => process.exit(0));
process.stdin.resume();

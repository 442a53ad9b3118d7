// Runs a real local Cloudflare D1 for the tests and benchmarks.
//
//   node tests/d1/harness.mjs [--persist DIR]
//
// miniflare runs worker.js with a D1 binding (in memory, or persisted under
// DIR/v3/d1 — the layout `wrangler d1 ... --local --persist-to DIR` uses).
// In front of it, an HTTP server on 127.0.0.1 (ephemeral port) forwards the
// D1 REST API to the Worker, counts the requests, and injects faults on
// demand. The first line on stdout is JSON: {"url", "api_base",
// "account_id", "database_id", "token"}. The process exits when its stdin
// closes, so it never outlives the test that started it.
//
// Control endpoints (not counted):
//   GET  /__harness/stats            {"d1_requests": n, "key_lookups": k}: D1 requests, apart
//                                    from the k API key lookups (`UPDATE mcp_api_keys SET
//                                    last_used_at …`: auth checks, which follow use, not calls)
//   POST /__harness/reset            zero the counters, clear faults and latency
//   POST /__harness/faults           JSON array of faults, one per coming D1 request (key
//                                    lookups get none):
//        {"kind":"429","retry_after":"1"}  429 Too Many Requests, not forwarded
//        {"kind":"500"}                    500 with Cloudflare's error envelope, not forwarded
//        {"kind":"overloaded"}             D1's transient "overloaded" error, not forwarded
//        {"kind":"drop_after_commit"}      forwarded (so it commits), then the connection is cut
//        {"kind":"403"}                    the token lacks permission
//        {"kind":"echo_token","status":n}  an error (envelope, or plain text with "plain":true)
//                                          whose message repeats the request's bearer token
//   POST /__harness/latency          {"ms": n} added before every D1 request
//   POST /__harness/sql              {"sql","params"} run directly on the database

import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const persistIndex = args.indexOf("--persist");
const persist = persistIndex >= 0 ? args[persistIndex + 1] : undefined;

const ACCOUNT_ID = "0123456789abcdef0123456789abcdef";
// Also HARNESS_DATABASE_ID in tests/it/common/mod.rs (wrangler opens the same files).
const DATABASE_ID = "5a1b7c3e-4d2f-4e6a-9b8c-0d1e2f3a4b5c";
const TOKEN = "test-token-" + Math.random().toString(36).slice(2);

const mf = new Miniflare({
  modules: true,
  scriptPath: path.join(here, "worker.js"),
  compatibilityDate: "2025-01-01",
  d1Databases: { DB: DATABASE_ID },
  d1Persist: persist ? path.join(persist, "v3", "d1") : false,
  bindings: { API_TOKEN: TOKEN, ACCOUNT_ID, DATABASE_ID },
  host: "127.0.0.1",
  port: 0,
  cf: false,
});
await mf.ready;

let d1Requests = 0;
let keyLookups = 0;
let latencyMs = 0;
let faults = [];

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function sendJson(res, status, value, headers = {}) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function cloudflareError(code, message) {
  return { result: null, success: false, errors: [{ code, message }], messages: [] };
}

async function forward(req, body) {
  const response = await mf.dispatchFetch(`http://127.0.0.1${req.url}`, {
    method: req.method,
    headers: req.headers,
    body: body.length ? body : undefined,
  });
  return { status: response.status, text: await response.text() };
}

// An API key lookup (the HTTP auth cache's, or a stdio server's check of its
// key): counted apart, since it follows use rather than tool calls.
function isKeyLookup(body) {
  try {
    const request = JSON.parse(body.toString() || "{}");
    const sql = request.batch?.[0]?.sql ?? request.sql ?? "";
    return sql.startsWith("UPDATE mcp_api_keys SET last_used_at");
  } catch {
    return false;
  }
}

const server = http.createServer(async (req, res) => {
  try {
    const body = await readBody(req);
    const url = new URL(req.url, "http://127.0.0.1");
    switch (url.pathname) {
      case "/__harness/stats":
        return sendJson(res, 200, { d1_requests: d1Requests, key_lookups: keyLookups });
      case "/__harness/reset":
        d1Requests = 0;
        keyLookups = 0;
        faults = [];
        latencyMs = 0;
        return sendJson(res, 200, { ok: true });
      case "/__harness/faults":
        faults.push(...JSON.parse(body.toString() || "[]"));
        return sendJson(res, 200, { queued: faults.length });
      case "/__harness/latency":
        latencyMs = JSON.parse(body.toString()).ms ?? 0;
        return sendJson(res, 200, { ms: latencyMs });
      case "/__harness/sql": {
        const r = await forward(req, body);
        res.writeHead(r.status, { "content-type": "application/json" });
        return res.end(r.text);
      }
    }

    if (isKeyLookup(body)) {
      keyLookups += 1;
      if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
      const r = await forward(req, body);
      res.writeHead(r.status, { "content-type": "application/json", "content-length": Buffer.byteLength(r.text) });
      return res.end(r.text);
    }
    d1Requests += 1;
    if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
    const fault = faults.shift();
    switch (fault?.kind) {
      case "429":
        return sendJson(res, 429, cloudflareError(971, "Please wait and consider throttling your request speed"), {
          "retry-after": String(fault.retry_after ?? "1"),
        });
      case "500":
        return sendJson(res, 500, cloudflareError(7500, "Internal error"));
      case "overloaded":
        return sendJson(res, 500, cloudflareError(7500, "D1 DB is overloaded. Too many requests queued. [code: 7500]"));
      case "403":
        return sendJson(res, 403, cloudflareError(10000, "Authentication error"));
      case "echo_token": {
        // Some proxies and error pages repeat the credentials they were given.
        const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
        const status = fault.status ?? 400;
        if (fault.plain) {
          res.writeHead(status, { "content-type": "text/plain" });
          return res.end(`bad gateway for token ${token}`);
        }
        return sendJson(res, status, cloudflareError(fault.code ?? 9109, `Invalid access token ${token}`));
      }
    }
    const r = await forward(req, body);
    if (fault?.kind === "drop_after_commit") {
      // The batch has committed; the client never hears about it.
      req.socket.destroy();
      return;
    }
    res.writeHead(r.status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(r.text),
    });
    res.end(r.text);
  } catch (e) {
    sendJson(res, 502, cloudflareError(7500, `harness: ${e.message}`));
  }
});

server.listen(0, "127.0.0.1", () => {
  const { port } = server.address();
  const url = `http://127.0.0.1:${port}`;
  process.stdout.write(
    JSON.stringify({ url, api_base: `${url}/client/v4`, account_id: ACCOUNT_ID, database_id: DATABASE_ID, token: TOKEN }) + "\n",
  );
});

async function shutdown() {
  server.close();
  await mf.dispose();
  process.exit(0);
}
process.stdin.on("end", shutdown);
process.stdin.on("close", shutdown);
process.stdin.resume();
process.on("SIGTERM", shutdown);

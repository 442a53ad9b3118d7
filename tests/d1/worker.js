// A local stand-in for Cloudflare's D1 REST API, answered by a real D1
// binding (workerd's SQLite, run by miniflare). It speaks the documented
// wire format: POST /client/v4/accounts/{account}/d1/database/{db}/query with
// `Authorization: Bearer <token>` and a body of `{"sql","params"}` or
// `{"batch":[{"sql","params"},..]}`; replies inside Cloudflare's envelope
// `{"result":[..],"success","errors","messages"}`. A batch is one transaction,
// as on D1.
//
// `/__harness/sql` runs one statement without the API (and without being
// counted by the harness): tests use it to look at and set up the database.

const QUERY_PATH = /^\/client\/v4\/accounts\/([^/]+)\/d1\/database\/([^/]+)\/query$/;

function envelope(result, status = 200) {
  return Response.json({ result, success: true, errors: [], messages: [] }, { status });
}

function failure(status, code, message) {
  return Response.json(
    { result: null, success: false, errors: [{ code, message }], messages: [] },
    { status },
  );
}

function statements(body) {
  const list = Array.isArray(body?.batch) ? body.batch : [body];
  return list.map((s) => {
    if (typeof s?.sql !== "string" || s.sql.trim() === "") {
      throw new TypeError("each statement needs a non-empty `sql` string");
    }
    if (s.params !== undefined && !Array.isArray(s.params)) {
      throw new TypeError("`params` must be an array");
    }
    return { sql: s.sql, params: s.params ?? [] };
  });
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);

    if (url.pathname === "/__harness/sql" && request.method === "POST") {
      const { sql, params } = await request.json();
      try {
        // Rows as arrays, in column order.
        const rows = await env.DB.prepare(sql).bind(...(params ?? [])).raw();
        return Response.json({ rows });
      } catch (e) {
        return Response.json({ error: String(e.message ?? e) }, { status: 400 });
      }
    }

    const route = QUERY_PATH.exec(url.pathname);
    if (!route) {
      return failure(404, 7000, `No route for that URI: ${request.method} ${url.pathname}`);
    }
    if (request.method !== "POST") {
      return failure(405, 10405, "Method not allowed");
    }
    const auth = request.headers.get("authorization") ?? "";
    if (auth !== `Bearer ${env.API_TOKEN}`) {
      return failure(403, 10000, "Authentication error");
    }
    const [, account, database] = route;
    if (account !== env.ACCOUNT_ID || database !== env.DATABASE_ID) {
      return failure(404, 7404, "The database could not be found.");
    }

    let stmts;
    try {
      stmts = statements(await request.json());
    } catch (e) {
      return failure(400, 7400, `The request is malformed: ${e.message}`);
    }

    try {
      const prepared = stmts.map((s) => env.DB.prepare(s.sql).bind(...s.params));
      const results = await env.DB.batch(prepared);
      return envelope(
        results.map((r) => ({ results: r.results ?? [], success: r.success, meta: r.meta })),
      );
    } catch (e) {
      // D1 reports SQL and internal errors as code 7500 with SQLite's message.
      const message = String(e.message ?? e).replace(/^D1_ERROR: /, "");
      return failure(400, 7500, `${message} [code: 7500]`);
    }
  },
};

"""Drive `vibe-kanban-mcp serve --http` with the official Python MCP SDK (mcp>=2.3,<3).

Usage:
    python http_client.py URL TOKEN --transport streamable|sse [--mode auto|legacy]
                          [--expect-protocol VERSION] [--timeout SECONDS]

URL is the MCP endpoint of a running server: `http://HOST:PORT/mcp` for Streamable HTTP or
`http://HOST:PORT/sse` for the legacy 2024-11-05 HTTP+SSE transport. TOKEN is an API key with
the read and write scopes; every request carries it as `Authorization: Bearer TOKEN`.

Checks, in order: tools/list (every kanban tool), create_project (a name unique to this run),
create_task twice, list_tasks total == 2, reading kanban://projects/{id}/board, a tool error for
an unknown task id, and that a wrong token is refused with HTTP 401 before any session exists.
Prints `python-sdk-http: N checks passed` and exits 0 on success; on the first failed check
prints the reason to stderr and exits 1.

`--mode` is the SDK's `Client(mode=...)`: `auto` (the SDK default) probes `server/discover` at
2026-07-28 and falls back to the `initialize` handshake; `legacy` forces the handshake.
`--expect-protocol` additionally checks the protocol version the SDK negotiated.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import harness
import httpx2
from harness import CheckFailed, call, describe, first_cause, structured, text_of
from mcp import Client, MCPError
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import (
    Implementation,
    TextResourceContents,
    Tool,
)

EXPECTED_TOOLS = (
    "list_workspaces",
    "list_projects",
    "get_project",
    "create_project",
    "update_project",
    "list_tasks",
    "get_task",
    "create_task",
    "update_task",
    "delete_task",
    "assign_task",
)
UNKNOWN_TASK_ID = "01930000-0000-7000-8000-000000000000"
WRONG_TOKEN = "vk_" + "0" * 64
# The SDK's own defaults for MCP HTTP clients: 30 s for connect/write/pool, 300 s to read a stream.
HTTP_TIMEOUT = httpx2.Timeout(30.0, read=300.0)


class HttpLog:
    """Every HTTP exchange the SDK's client made: what was sent, the status, the challenge and the time."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.responses: list[tuple[str, int, str | None]] = []
        """(description, status, www-authenticate) per response, in arrival order."""

    async def on_request(self, request: httpx2.Request) -> None:
        request.extensions["vk_sent_at"] = time.monotonic()

    async def on_response(self, response: httpx2.Response) -> None:
        request = response.request
        now = time.monotonic()
        sent_at = request.extensions.get("vk_sent_at", now)
        what = f"{request.method} {request.url.path}"
        if rpc := _rpc_method(request):
            what += f" [{rpc}]"
        what += f" -> {response.status_code} at +{sent_at - self.start:.2f}s in {now - sent_at:.2f}s"
        self.responses.append((what, response.status_code, response.headers.get("www-authenticate")))

    def statuses(self) -> list[int]:
        return [status for _, status, _ in self.responses]

    def describe(self) -> str:
        return "; ".join(what for what, _, _ in self.responses) or "none"


def _rpc_method(request: httpx2.Request) -> str | None:
    """The JSON-RPC method (or "response") a POST carries, for the HTTP log."""
    if request.method != "POST":
        return None
    try:
        message = json.loads(request.content)
    except (ValueError, httpx2.RequestNotRead):
        return None
    if isinstance(message, dict):
        method = message.get("method")
        return method if isinstance(method, str) else "response"
    return "batch"


class Checks(harness.Checks):
    def __init__(self) -> None:
        super().__init__()
        self.http = HttpLog()
        """The HTTP exchanges of the authenticated client, shown when something fails."""
        self.step = "connecting (server/discover, else initialize)"


def http_client_factory(log: HttpLog) -> Callable[..., httpx2.AsyncClient]:
    """An `McpHttpClientFactory` whose clients record every response in `log`."""

    def factory(
        headers: dict[str, str] | None = None,
        timeout: httpx2.Timeout | None = None,
        auth: httpx2.Auth | None = None,
    ) -> httpx2.AsyncClient:
        kwargs: dict[str, Any] = {
            "headers": headers,
            "timeout": timeout if timeout is not None else HTTP_TIMEOUT,
            "event_hooks": {"request": [log.on_request], "response": [log.on_response]},
            # The server under test is on loopback: an HTTP(S)_PROXY in the environment must not apply.
            "trust_env": False,
        }
        if auth is not None:
            kwargs["auth"] = auth
        return httpx2.AsyncClient(**kwargs)

    return factory


def make_client(args: argparse.Namespace, token: str, log: HttpLog, read_timeout: float) -> Client:
    """An SDK `Client` for `args.url` over `args.transport`, sending `Authorization: Bearer token`."""
    headers = {"Authorization": f"Bearer {token}"}
    factory = http_client_factory(log)
    if args.transport == "sse":
        # The SDK's legacy HTTP+SSE transport: GET the stream, POST to its `endpoint` event.
        transport: Any = sse_client(args.url, headers=headers, httpx_client_factory=factory)
    else:
        # `Client(url)` builds a Streamable HTTP transport without headers; to authenticate,
        # hand the transport an httpx2 client that carries them (the SDK's documented way).
        transport = _streamable(args.url, factory(headers=headers))
    return Client(
        transport,
        mode=args.mode,
        read_timeout_seconds=read_timeout,
        client_info=Implementation(name="vibe-kanban-mcp-python-sdk-http-test", version="0"),
    )


def _streamable(url: str, http: httpx2.AsyncClient) -> Any:
    """`streamable_http_client` over `http`, closing `http` when the transport closes."""

    @asynccontextmanager
    async def transport() -> AsyncIterator[Any]:
        async with http, streamable_http_client(url, http_client=http) as streams:
            yield streams

    return transport()


async def all_tools(client: Client, c: Checks) -> list[Tool]:
    c.step = "tools/list"
    tools: list[Tool] = []
    cursor: str | None = None
    for _ in range(100):
        page = await client.list_tools(cursor=cursor, cache_mode="bypass")
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            return tools
    raise CheckFailed("tools/list: still paging after 100 pages")


async def run_checks(client: Client, c: Checks, args: argparse.Namespace) -> None:
    print(
        f"python-sdk-http: {args.transport} mode={args.mode} connected, "
        f"protocol {client.protocol_version}, server {client.server_info!r}",
        file=sys.stderr,
        flush=True,
    )
    if args.expect_protocol is not None:
        c.ok(
            client.protocol_version == args.expect_protocol,
            f"the SDK negotiated protocol {args.expect_protocol}",
            f"got {client.protocol_version} (HTTP exchanges: {c.http.describe()})",
        )

    # --- tools/list -------------------------------------------------------------------------
    tools = {tool.name: tool for tool in await all_tools(client, c)}
    missing = [name for name in EXPECTED_TOOLS if name not in tools]
    c.ok(
        not missing,
        f"tools/list includes the {len(EXPECTED_TOOLS)} kanban tools (incl. create_task)",
        f"missing {missing}; server listed {sorted(tools)}",
    )

    # --- create_project (a name unique to this run) --------------------------------------------
    name = f"py-http-{args.transport}-{args.mode}-{uuid.uuid4().hex[:12]}"
    project = structured(
        await call(client, c, "create_project", {"name": name, "description": "made by the Python SDK over HTTP"}),
        "create_project",
    )
    c.ok(
        isinstance(project.get("id"), str) and project.get("name") == name,
        "create_project returns id and name",
        f"got {project!r}",
    )
    project_id: str = project["id"]

    # --- create_task x2 -------------------------------------------------------------------------
    titles = ("http alpha", "http beta")
    for title in titles:
        task = structured(
            await call(client, c, "create_task", {"project_id": project_id, "title": title}),
            f"create_task {title!r}",
        )
        c.ok(
            isinstance(task.get("id"), str) and task.get("title") == title,
            f"create_task {title!r} returns the task",
            f"got {task!r}",
        )

    # --- list_tasks -----------------------------------------------------------------------------
    listed = structured(await call(client, c, "list_tasks", {"project_id": project_id}), "list_tasks")
    tasks = listed.get("tasks")
    c.ok(
        listed.get("total") == 2
        and isinstance(tasks, list)
        and sorted(t.get("title") for t in tasks) == sorted(titles),
        "list_tasks gives total 2 with both tasks",
        f"got {listed!r}",
    )

    # --- the board resource ---------------------------------------------------------------------
    board_uri = f"kanban://projects/{project_id}/board"
    c.step = f"resources/read {board_uri}"
    read = await client.read_resource(board_uri, cache_mode="bypass")
    board = "\n".join(item.text for item in read.contents if isinstance(item, TextResourceContents))
    missing_titles = [t for t in titles if t not in board]
    c.ok(
        not missing_titles,
        f"reading {board_uri} shows both tasks",
        f"missing {missing_titles} in {read.contents!r}",
    )

    # --- a tool error for an unknown task id ----------------------------------------------------
    result = await call(client, c, "get_task", {"task_id": UNKNOWN_TASK_ID})
    c.ok(
        result.is_error is True and UNKNOWN_TASK_ID in text_of(result),
        "get_task on an unknown id is a tool error (isError) naming the id",
        f"got {describe(result)}",
    )


async def check_wrong_token(args: argparse.Namespace, c: Checks) -> None:
    """A wrong token must be refused with HTTP 401 (and a Bearer challenge) before any session."""
    c.step = "connecting with a wrong token"
    log = HttpLog()
    client = make_client(args, WRONG_TOKEN, log, read_timeout=10.0)
    error: BaseException | None = None
    try:
        with anyio.fail_after(20):
            async with client:
                pass
    except TimeoutError as e:
        raise CheckFailed(
            f"connecting with a wrong token: no answer within 20 s (HTTP responses: {log.describe()})"
        ) from e
    except Exception as e:  # noqa: BLE001 - any refusal counts; the 401 below is what is checked
        error = first_cause(e)
    c.ok(
        error is not None,
        "connecting with a wrong token fails",
        f"it connected (HTTP responses: {log.describe()})",
    )
    print(
        f"python-sdk-http: wrong token refused: {type(error).__name__}: {error}; HTTP exchanges: {log.describe()}",
        file=sys.stderr,
        flush=True,
    )
    statuses = log.statuses()
    c.ok(
        bool(statuses) and all(status == 401 for status in statuses),
        "every request with a wrong token is answered HTTP 401",
        f"HTTP responses: {log.describe()}; error {type(error).__name__}: {error}",
    )
    challenges = [www for _, _, www in log.responses]
    c.ok(
        all(www is not None and www.lower().startswith("bearer") for www in challenges),
        "the 401s carry a Bearer WWW-Authenticate challenge",
        f"got {challenges!r}",
    )
    if args.transport == "sse":
        c.ok(
            isinstance(error, httpx2.HTTPStatusError) and error.response.status_code == 401,
            "the SDK's SSE client raises HTTPStatusError 401",
            f"got {type(error).__name__}: {error}",
        )
    else:
        c.ok(
            isinstance(error, MCPError),
            "the SDK's Streamable HTTP client raises MCPError",
            f"got {type(error).__name__}: {error}",
        )


async def main(args: argparse.Namespace, c: Checks) -> None:
    with anyio.fail_after(args.timeout):
        async with make_client(args, args.token, c.http, read_timeout=args.timeout / 2) as client:
            await run_checks(client, c, args)
        await check_wrong_token(args, c)


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url", help="MCP endpoint: http://HOST:PORT/mcp (streamable) or http://HOST:PORT/sse (sse)")
    parser.add_argument("token", help="API key with the read and write scopes")
    parser.add_argument("--transport", choices=("streamable", "sse"), required=True)
    parser.add_argument("--mode", default="auto", choices=("auto", "legacy"), help="Client mode (default auto)")
    parser.add_argument("--expect-protocol", help="fail unless the SDK negotiates this protocol version")
    parser.add_argument("--timeout", type=float, default=60.0, help="overall timeout in seconds (default 60)")
    args = parser.parse_args()
    c = Checks()
    try:
        anyio.run(main, args, c)
    except KeyboardInterrupt:
        raise
    except BaseException as raw:  # noqa: BLE001 - the top-level report: every failure is printed, none escapes
        print(f"python-sdk-http: HTTP exchanges of the authenticated client: {c.http.describe()}", file=sys.stderr)

        def explain(exc: BaseException) -> str | None:
            if isinstance(exc, httpx2.HTTPStatusError):
                return f"HTTP {exc.response.status_code} from {exc.request.method} {exc.request.url}"
            if isinstance(exc, httpx2.TransportError):
                return f"could not reach {args.url}: {type(exc).__name__}: {exc}"
            return None

        return harness.report_failure("python-sdk-http", raw, c, args.timeout, explain)
    print(f"python-sdk-http: HTTP exchanges of the authenticated client: {c.http.describe()}", file=sys.stderr)
    print(f"python-sdk-http: {c.passed} checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(cli())

"""Drive `vibe-kanban-mcp serve` over stdio with the official Python MCP SDK (mcp>=2.3,<3).

Usage:
    python stdio_client.py BINARY DATA_DIR [--mode auto|legacy|2026-07-28] [--timeout SECONDS]

Starts `BINARY serve --data-dir DATA_DIR` as a child process through the SDK's stdio
transport (the server's stderr goes to ours) and checks the kanban tools and the board
resource template end to end. Prints `python-sdk: N checks passed` and exits 0 on success;
on the first failed check prints the reason to stderr and exits 1.

`--mode` is the SDK's `Client(mode=...)`: `auto` (the SDK default) probes `server/discover`
at 2026-07-28 and falls back to the `initialize` handshake; `legacy` forces the handshake
(2025-11-25); `2026-07-28` pins the modern per-request envelope without any probe.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Any

import anyio
from mcp import Client, MCPError, StdioServerParameters
from mcp_types import (
    CONNECTION_CLOSED,
    INVALID_PARAMS,
    CallToolResult,
    Implementation,
    TextContent,
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
BOARD_TEMPLATE = "kanban://projects/{project_id}/board"
UNKNOWN_TASK_ID = "01930000-0000-7000-8000-000000000000"
# Environment passed through to the server on top of the SDK's safe default (HOME, PATH, ...).
PASSTHROUGH_ENV_PREFIXES = ("RUST_", "VK_")


class CheckFailed(Exception):
    """A check did not hold; the message says which and what was seen."""


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.step = "starting the server and connecting (server/discover, else initialize)"
        """The request in flight, named in the report when something other than a check fails."""

    def ok(self, condition: bool, what: str, seen: str) -> None:
        """Count `what` as passed, or fail with `what` and what was actually `seen`."""
        if not condition:
            raise CheckFailed(f"{what}: {seen}")
        self.passed += 1
        print(f"  ok {self.passed:2d}  {what}", flush=True)


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def describe(result: CallToolResult) -> str:
    return f"isError={result.is_error} structuredContent={result.structured_content!r} text={text_of(result)!r}"


def structured(result: CallToolResult, what: str) -> dict[str, Any]:
    """The structuredContent of a successful call, or a failure that shows the whole result."""
    if result.is_error:
        raise CheckFailed(f"{what}: expected success, got a tool error: {describe(result)}")
    if not isinstance(result.structured_content, dict):
        raise CheckFailed(f"{what}: expected structuredContent to be an object, got {describe(result)}")
    return result.structured_content


async def call(client: Client, c: Checks, name: str, arguments: dict[str, Any]) -> CallToolResult:
    c.step = f"tools/call {name} {arguments}"
    return await client.call_tool(name, arguments)


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


async def all_resource_templates(client: Client, c: Checks) -> list[str]:
    c.step = "resources/templates/list"
    templates: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        page = await client.list_resource_templates(cursor=cursor, cache_mode="bypass")
        templates.extend(t.uri_template for t in page.resource_templates)
        cursor = page.next_cursor
        if cursor is None:
            return templates
    raise CheckFailed("resources/templates/list: still paging after 100 pages")


def check_tools(c: Checks, tools: list[Tool]) -> dict[str, Tool]:
    by_name = {tool.name: tool for tool in tools}
    missing = [name for name in EXPECTED_TOOLS if name not in by_name]
    c.ok(not missing, "tools/list names every kanban tool", f"missing {missing}; server listed {sorted(by_name)}")
    for name in EXPECTED_TOOLS:
        tool = by_name[name]
        schema = tool.input_schema
        c.ok(
            isinstance(schema.get("properties"), dict),
            f"{name} inputSchema has properties",
            f"got {schema!r}",
        )
        read_only = tool.annotations.read_only_hint if tool.annotations is not None else None
        if name.startswith(("list_", "get_")):
            c.ok(read_only is True, f"{name} is annotated readOnlyHint=true", f"got annotations {tool.annotations!r}")
        else:
            c.ok(
                read_only is not True,
                f"{name} is not annotated readOnlyHint=true",
                f"got annotations {tool.annotations!r}",
            )
    return by_name


async def run_checks(client: Client, c: Checks) -> None:
    print(
        f"python-sdk: connected, protocol {client.protocol_version}, server {client.server_info!r}",
        file=sys.stderr,
        flush=True,
    )

    # --- tools/list -------------------------------------------------------------------------
    tools = check_tools(c, await all_tools(client, c))

    # --- create_project -----------------------------------------------------------------------
    result = await call(
        client, c, "create_project", {"name": "py-sdk-project", "description": "made by the Python SDK"}
    )
    project = structured(result, "create_project")
    c.ok(
        isinstance(project.get("id"), str) and project.get("name") == "py-sdk-project",
        "create_project returns id and name",
        f"got {project!r}",
    )
    project_id: str = project["id"]

    # --- create_task x3 -----------------------------------------------------------------------
    for title, status in (("alpha", None), ("beta", "inprogress"), ("gamma", None)):
        args: dict[str, Any] = {"project_id": project_id, "title": title}
        if status is not None:
            args["status"] = status
        task = structured(await call(client, c, "create_task", args), f"create_task {title!r}")
        c.ok(
            isinstance(task.get("id"), str) and task.get("title") == title,
            f"create_task {title!r} returns the task",
            f"got {task!r}",
        )
        if status is not None:
            c.ok(task.get("status") == status, f"create_task {title!r} keeps status {status!r}", f"got {task!r}")

    # --- list_tasks filtered by status --------------------------------------------------------
    listed = structured(
        await call(client, c, "list_tasks", {"project_id": project_id, "status": ["inprogress"]}),
        "list_tasks status=[inprogress]",
    )
    tasks = listed.get("tasks")
    c.ok(
        listed.get("total") == 1 and isinstance(tasks, list) and len(tasks) == 1 and tasks[0].get("title") == "beta",
        "list_tasks status=[inprogress] gives total 1 and only 'beta'",
        f"got {listed!r}",
    )

    # --- list_tasks paged by cursor -----------------------------------------------------------
    page1 = structured(
        await call(client, c, "list_tasks", {"project_id": project_id, "limit": 2}), "list_tasks limit=2"
    )
    tasks1 = page1.get("tasks")
    cursor = page1.get("next_cursor")
    c.ok(
        isinstance(tasks1, list) and len(tasks1) == 2 and page1.get("total") == 3,
        "list_tasks limit=2 gives 2 tasks of total 3",
        f"got {page1!r}",
    )
    c.ok(
        isinstance(cursor, str) and cursor != "",
        "list_tasks limit=2 gives a next_cursor",
        f"got {page1!r}",
    )
    page2 = structured(
        await call(client, c, "list_tasks", {"project_id": project_id, "limit": 2, "cursor": cursor}),
        "list_tasks limit=2 cursor=...",
    )
    tasks2 = page2.get("tasks")
    c.ok(
        isinstance(tasks2, list) and len(tasks2) == 1 and page2.get("total") == 3,
        "list_tasks second page gives the remaining 1 task of total 3",
        f"got {page2!r}",
    )
    c.ok(
        page2.get("next_cursor") is None,
        "list_tasks second page has no next_cursor",
        f"got {page2!r}",
    )
    titles = sorted(t.get("title") for t in [*tasks1, *tasks2])
    c.ok(titles == ["alpha", "beta", "gamma"], "the two pages hold alpha, beta, gamma once each", f"got {titles}")

    # --- get_task on an unknown id ------------------------------------------------------------
    id_param = "task_id" if "task_id" in tools["get_task"].input_schema.get("properties", {}) else "id"
    result = await call(client, c, "get_task", {id_param: UNKNOWN_TASK_ID})
    c.ok(
        result.is_error and UNKNOWN_TASK_ID in text_of(result),
        "get_task on an unknown id is a tool error naming the id",
        f"got {describe(result)}",
    )

    # --- create_task with an invalid status: JSON-RPC -32602 ----------------------------------
    try:
        result = await call(client, c, "create_task", {"project_id": project_id, "title": "bad", "status": "bogus"})
    except MCPError as e:
        c.ok(
            e.code == INVALID_PARAMS and "status" in e.message,
            f"create_task status=bogus is JSON-RPC error {INVALID_PARAMS} mentioning 'status'",
            f"got code {e.code} message {e.message!r} data {e.data!r}",
        )
    else:
        raise CheckFailed(
            f"create_task status=bogus: expected JSON-RPC error {INVALID_PARAMS}, got a result: {describe(result)}"
        )

    # --- resources ----------------------------------------------------------------------------
    templates = await all_resource_templates(client, c)
    c.ok(BOARD_TEMPLATE in templates, f"resources/templates/list has {BOARD_TEMPLATE}", f"got {templates}")
    board_uri = f"kanban://projects/{project_id}/board"
    c.step = f"resources/read {board_uri}"
    read = await client.read_resource(board_uri, cache_mode="bypass")
    board = "\n".join(item.text for item in read.contents if isinstance(item, TextResourceContents))
    missing_titles = [t for t in ("alpha", "beta", "gamma") if t not in board]
    c.ok(
        not missing_titles,
        f"reading {board_uri} shows alpha, beta and gamma",
        f"missing {missing_titles} in {read.contents!r}",
    )


def server_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(PASSTHROUGH_ENV_PREFIXES)}


async def main(args: argparse.Namespace, c: Checks) -> None:
    params = StdioServerParameters(
        command=args.binary,
        args=["serve", "--data-dir", args.data_dir],
        env=server_env(),
    )
    client = Client(
        params,
        mode=args.mode,
        read_timeout_seconds=args.timeout / 2,
        client_info=Implementation(name="vibe-kanban-mcp-python-sdk-test", version="0"),
    )
    with anyio.fail_after(args.timeout):
        async with client:
            await run_checks(client, c)


def first_cause(exc: BaseException) -> BaseException:
    """Unwrap anyio/asyncio exception groups down to the first real error."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        failed = [e for e in exc.exceptions if isinstance(e, CheckFailed)]
        exc = failed[0] if failed else exc.exceptions[0]
    return exc


def cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary", help="path to the vibe-kanban-mcp binary")
    parser.add_argument("data_dir", help="data directory for `serve --data-dir` (use a fresh one)")
    parser.add_argument("--mode", default="auto", help="Client mode: auto (default), legacy or 2026-07-28")
    parser.add_argument("--timeout", type=float, default=60.0, help="overall timeout in seconds (default 60)")
    args = parser.parse_args()
    c = Checks()
    try:
        anyio.run(main, args, c)
    except KeyboardInterrupt:
        raise
    except BaseException as raw:
        exc = first_cause(raw)
        if isinstance(exc, CheckFailed):
            print(f"python-sdk: FAILED: {exc}", file=sys.stderr)
            return 1
        print(f"python-sdk: FAILED during {c.step} (after {c.passed} passed checks):", file=sys.stderr)
        if isinstance(exc, TimeoutError):
            print(f"  timed out after {args.timeout}s", file=sys.stderr)
        elif isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED:
            print("  the server closed the connection (did it exit? its stderr is above)", file=sys.stderr)
        elif isinstance(exc, OSError):
            print(f"  could not start {args.binary}: {exc}", file=sys.stderr)
        elif isinstance(exc, MCPError):
            print(f"  unexpected JSON-RPC error {exc.code}: {exc.message} (data {exc.data!r})", file=sys.stderr)
        else:
            print(f"  {type(exc).__name__}: {exc}", file=sys.stderr)
            traceback.print_exception(exc, file=sys.stderr)
        return 1
    print(f"python-sdk: {c.passed} checks passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(cli())

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

import sys
from typing import Any

from harness import CheckFailed, Checks, call, describe, run_cli, structured, text_of
from mcp import Client, MCPError
from mcp_types import INVALID_PARAMS, TextResourceContents, Tool

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


def cli() -> int:
    return run_cli("python-sdk", __doc__, lambda client, c, _args: run_checks(client, c))


if __name__ == "__main__":
    sys.exit(cli())

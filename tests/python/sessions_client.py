"""Drive agent sessions of `vibe-kanban-mcp serve` with the official Python MCP SDK.

Usage:
    python sessions_client.py BINARY DATA_DIR --config FILE [--mode auto|legacy|2026-07-28]

Starts `BINARY serve --data-dir DATA_DIR --config FILE` (FILE's default executor is the stand-in
agent tests/agents/agent.sh), then: starts a session on a task, follows it with get_session until
it finishes, reads its execution log whole (the text is the first content block; structuredContent
says where it is), by pages that follow next_cursor, and by tail; and checks the errors for an
unknown session and for stopping a finished one. Prints `python-sdk sessions: N checks passed`
and exits 0 on success; on the first failed check prints the reason to stderr and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import anyio
from harness import Checks, call, describe, run_cli, structured, text_of, tool
from mcp import Client
from mcp_types import CallToolResult, TextContent

UNKNOWN_SESSION_ID = "01930000-0000-7000-8000-0000000000aa"


def log_text(result: CallToolResult) -> str:
    """A log page's text: the first content block, as the server wrote it."""
    first = result.content[0] if result.content else None
    return first.text if isinstance(first, TextContent) else ""


async def read_log(client: Client, c: Checks, arguments: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    result = await call(client, c, "read_execution_log", arguments)
    return log_text(result), structured(result, f"read_execution_log {arguments}")


async def run_checks(client: Client, c: Checks, _args: argparse.Namespace) -> None:
    project = await tool(client, c, "create_project", {"name": "Agents"})
    task = await tool(
        client, c, "create_task", {"project_id": project["id"], "title": "Tidy the README", "description": "Short."}
    )
    started = await tool(client, c, "start_session", {"task_id": task["id"]})
    session_id = started["id"]
    c.ok(started["status"] in ("queued", "running"), "start_session returns at once, queued or running", f"{started}")
    c.ok(started["executor"] == "script", "the configured default executor is used", f"{started['executor']}")

    session = started
    with anyio.fail_after(30):
        while session["status"] in ("queued", "running"):
            await anyio.sleep(0.05)
            session = await tool(client, c, "get_session", {"session_id": session_id})
    c.ok(session["status"] == "completed", "the agent exits 0 and the session completes", f"{session}")
    c.ok(
        [p["exit_code"] for p in session["processes"]] == [0],
        "get_session lists the agent process with its exit code",
        f"{session['processes']}",
    )
    moved = await tool(client, c, "get_task", {"task_id": task["id"]})
    c.ok(moved["status"] == "inreview", "the task moves to inreview", f"{moved['status']}")

    whole, page = await read_log(client, c, {"session_id": session_id})
    c.ok("agent: line 3" in whole, "the log's text is the first content block", f"{whole!r}")
    c.ok("text" not in page, "structuredContent does not repeat the text", f"{page}")
    c.ok(
        page["next_cursor"] == page["total_bytes"] and page["running"] is False,
        "a whole read ends at the log's size and says nothing more will come",
        f"{page}",
    )

    pieces: list[str] = []
    cursor = 0
    while cursor < page["total_bytes"]:
        text, meta = await read_log(client, c, {"session_id": session_id, "cursor": cursor, "limit": 64})
        c.step = f"paging from {cursor}"
        if meta["next_cursor"] <= cursor:
            break
        pieces.append(text)
        cursor = meta["next_cursor"]
    c.ok("".join(pieces) == whole, "pages of 64 bytes that follow next_cursor add up to the whole log", f"{pieces}")

    tail, _ = await read_log(client, c, {"session_id": session_id, "tail": 2})
    c.ok(len(tail.splitlines()) == 2, "tail gives the last lines", f"{tail!r}")
    c.ok(whole.endswith(tail), "the tail is the end of the log", f"{tail!r}")

    unknown = await call(client, c, "read_execution_log", {"session_id": UNKNOWN_SESSION_ID})
    c.ok(
        unknown.is_error is True and "not found" in text_of(unknown),
        "an unknown session is a tool error that says so",
        describe(unknown),
    )
    stopped = await call(client, c, "stop_session", {"session_id": session_id})
    c.ok(
        stopped.is_error is True and "already completed" in text_of(stopped),
        "stopping a finished session says it has already completed",
        describe(stopped),
    )


def cli() -> int:
    return run_cli(
        "python-sdk sessions",
        __doc__,
        run_checks,
        add_arguments=lambda parser: parser.add_argument("--config", required=True, help="the TOML configuration"),
        serve_args=lambda args: ["--config", args.config],
    )


if __name__ == "__main__":
    sys.exit(cli())

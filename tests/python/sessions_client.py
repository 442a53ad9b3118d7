"""Drive agent sessions of `vibe-kanban-mcp serve` with the official Python MCP SDK.

Usage:
    python sessions_client.py BINARY DATA_DIR --config FILE [--mode auto|legacy|2026-07-28]

Starts `BINARY serve --data-dir DATA_DIR --config FILE` (FILE's default executor is the stand-in
agent tests/agents/agent.sh), then: starts a session on a task, waits for it with wait_for_session, reads its execution log whole (the text is the first content block; structuredContent
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

    with anyio.fail_after(60):
        waited = await tool(client, c, "wait_for_session", {"session_id": session_id, "timeout_secs": 30})
    c.ok(waited["timed_out"] is False, "wait_for_session returns when the agent exits", f"{waited}")
    session = await tool(client, c, "get_session", {"session_id": session_id})
    c.ok(session["status"] == "completed", "the agent exits 0 and the session completes", f"{session}")
    c.ok(
        {k: v for k, v in waited.items() if k != "timed_out"} == session,
        "wait_for_session returns what get_session returns, plus timed_out",
        f"{waited} != {session}",
    )
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

    # A wait that times out on an agent that keeps printing, with progress
    # notifications (the SDK sends a progressToken with a progress callback).
    reports: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        reports.append((progress, total, message))

    slow_task = await tool(client, c, "create_task", {"project_id": project["id"], "title": "Keep going"})
    slow = await tool(client, c, "start_session", {"task_id": slow_task["id"], "executor": "slow"})
    c.step = "tools/call wait_for_session with a progress callback"
    with anyio.fail_after(60):
        result = await client.call_tool(
            "wait_for_session", {"session_id": slow["id"], "timeout_secs": 2}, progress_callback=on_progress
        )
    timed_out = structured(result, "wait_for_session")
    c.ok(
        timed_out["timed_out"] is True and timed_out["status"] in ("queued", "running"),
        "a wait on a running agent times out",
        f"{timed_out}",
    )
    c.ok(
        len(reports) >= 1 and all(total == 2.0 and message for _, total, message in reports),
        "progress notifications arrive while it waits, with the total and a message",
        f"{reports}",
    )
    await tool(client, c, "stop_session", {"session_id": slow["id"]})

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

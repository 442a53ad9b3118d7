"""What the Python SDK client scripts share: checks that count and report, tool-call helpers, and a
command line that starts `BINARY serve --data-dir DATA_DIR` over stdio, runs the script's checks
and reports the first failure with the request that was in flight.

The scripts run by path, so their own directory is on `sys.path` and `import harness` finds this
file.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from mcp import Client, MCPError, StdioServerParameters
from mcp_types import CONNECTION_CLOSED, CallToolResult, Implementation, TextContent

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


async def tool(client: Client, c: Checks, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Calls a tool that must succeed; returns its structuredContent."""
    return structured(await call(client, c, name, arguments), name)


def server_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith(PASSTHROUGH_ENV_PREFIXES)}


def first_cause(exc: BaseException) -> BaseException:
    """Unwrap anyio/asyncio exception groups down to the first real error."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        failed = [e for e in exc.exceptions if isinstance(e, CheckFailed)]
        exc = failed[0] if failed else exc.exceptions[0]
    return exc


def report_failure(
    label: str,
    raw: BaseException,
    c: Checks,
    timeout: float,
    explain: Callable[[BaseException], str | None] = lambda _exc: None,
) -> int:
    """Prints the first real failure inside `raw` (a failed check, or an error during `c.step`,
    which `explain` may describe) and returns the exit status 1."""
    exc = first_cause(raw)
    if isinstance(exc, CheckFailed):
        print(f"{label}: FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"{label}: FAILED during {c.step} (after {c.passed} passed checks):", file=sys.stderr)
    explained = explain(exc)
    if explained is not None:
        print(f"  {explained}", file=sys.stderr)
    elif isinstance(exc, TimeoutError):
        print(f"  timed out after {timeout}s", file=sys.stderr)
    elif isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED:
        print("  the server closed the connection (did it exit? its stderr is above)", file=sys.stderr)
    elif isinstance(exc, MCPError):
        print(f"  unexpected JSON-RPC error {exc.code}: {exc.message} (data {exc.data!r})", file=sys.stderr)
    else:
        print(f"  {type(exc).__name__}: {exc}", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)
    return 1


def run_cli(
    label: str,
    description: str | None,
    run_checks: Callable[[Client, Checks, argparse.Namespace], Awaitable[None]],
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
    serve_args: Callable[[argparse.Namespace], list[str]] | None = None,
) -> int:
    """Parses `BINARY DATA_DIR [--mode M] [--timeout S]` (plus `add_arguments`), serves over stdio
    with `serve --data-dir DATA_DIR` (plus `serve_args`), runs `run_checks` and prints
    `LABEL: N checks passed` (exit 0) or the first failure (exit 1)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary", help="path to the vibe-kanban-mcp binary")
    parser.add_argument("data_dir", help="data directory for `serve --data-dir` (use a fresh one)")
    parser.add_argument("--mode", default="auto", help="Client mode: auto (default), legacy or 2026-07-28")
    parser.add_argument("--timeout", type=float, default=60.0, help="overall timeout in seconds (default 60)")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()
    c = Checks()

    async def main() -> None:
        extra = serve_args(args) if serve_args is not None else []
        params = StdioServerParameters(
            command=args.binary,
            args=["serve", "--data-dir", args.data_dir, *extra],
            env=server_env(),
        )
        client = Client(
            params,
            mode=args.mode,
            read_timeout_seconds=args.timeout / 2,
            client_info=Implementation(name=f"vibe-kanban-mcp-{label.replace(' ', '-')}-test", version="0"),
        )
        with anyio.fail_after(args.timeout):
            async with client:
                await run_checks(client, c, args)

    try:
        anyio.run(main)
    except KeyboardInterrupt:
        raise
    except BaseException as raw:
        return report_failure(
            label,
            raw,
            c,
            args.timeout,
            lambda exc: f"could not start {args.binary}: {exc}" if isinstance(exc, OSError) else None,
        )
    print(f"{label}: {c.passed} checks passed", flush=True)
    return 0

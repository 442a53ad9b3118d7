"""Drive the prompts and completions of `vibe-kanban-mcp serve` with the official Python MCP SDK.

Usage:
    python prompts_client.py BINARY DATA_DIR [--mode auto|legacy|2026-07-28] [--timeout SECONDS]

Starts `BINARY serve --data-dir DATA_DIR` through the SDK's stdio transport, makes a project and
tasks with the kanban tools, then checks: prompts/list (the built-in templates and a workspace
template made with create_prompt_template, with their arguments), prompts/get with arguments
(the task's context is filled in), the JSON-RPC invalid-params error for a missing argument, and
completion/complete suggesting task ids, task titles and declared values. Prints
`python-sdk prompts: N checks passed` and exits 0 on success; on the first failed check prints
the reason to stderr and exits 1.
"""

from __future__ import annotations

import sys
from typing import Any

from harness import CheckFailed, Checks, run_cli, tool
from mcp import Client, MCPError
from mcp_types import INVALID_PARAMS, PromptReference, ResourceTemplateReference, TextContent

BUILTINS = ("implement-task", "write-tests", "review-change", "fix-bug")


async def prompt_text(client: Client, c: Checks, name: str, arguments: dict[str, str]) -> str:
    c.step = f"prompts/get {name} {arguments}"
    result = await client.get_prompt(name, arguments)
    return "\n".join(m.content.text for m in result.messages if isinstance(m.content, TextContent))


async def completions(client: Client, c: Checks, ref: Any, name: str, value: str) -> list[str]:
    c.step = f"completion/complete {ref} {name}={value!r}"
    result = await client.complete(ref, {"name": name, "value": value})
    return list(result.completion.values)


async def run_checks(client: Client, c: Checks) -> None:
    project = await tool(client, c, "create_project", {"name": "Storefront", "repo_path": "/srv/storefront"})
    project_id = project["id"]
    task = await tool(
        client,
        c,
        "create_task",
        {
            "project_id": project_id,
            "title": "Cart badge shows stale count",
            "description": "After removing an item the badge still shows the old number.",
        },
    )
    task_id = task["id"]
    await tool(client, c, "create_task", {"project_id": project_id, "title": "Checkout button misaligned"})
    await tool(
        client,
        c,
        "create_prompt_template",
        {
            "name": "hotfix",
            "description": "A hotfix for production",
            "template": "Hotfix for {{service}} ({{severity}}).\n{{task}}",
            "arguments": [
                {"name": "service", "description": "The affected service"},
                {"name": "severity", "required": False, "suggestions": ["sev1", "sev2", "sev3"]},
            ],
        },
    )

    # --- prompts/list -------------------------------------------------------------------------
    c.step = "prompts/list"
    listed = await client.list_prompts(cache_mode="bypass")
    by_name = {p.name: p for p in listed.prompts}
    missing = [name for name in (*BUILTINS, "hotfix") if name not in by_name]
    c.ok(not missing, "prompts/list has the four built-ins and the workspace template", f"missing {missing}; got {sorted(by_name)}")
    hotfix_args = {a.name: a.required for a in by_name["hotfix"].arguments or []}
    c.ok(
        hotfix_args == {"service": True, "severity": False, "task_id": True},
        "hotfix's arguments: service (required), severity (optional), task_id (required, for {{task}})",
        f"got {hotfix_args}",
    )
    fix_bug = by_name["fix-bug"]
    c.ok(
        fix_bug.title == "Fix bug" and any(a.name == "symptom" and a.required for a in fix_bug.arguments or []),
        "fix-bug has a title and a required `symptom` argument",
        f"got {fix_bug!r}",
    )

    # --- prompts/get with arguments -----------------------------------------------------------
    text = await prompt_text(client, c, "implement-task", {"task_id": task_id, "notes": "Keep the badge animation."})
    c.ok(
        "Cart badge shows stale count" in text
        and "After removing an item" in text
        and "Repository: /srv/storefront" in text
        and "Notes: Keep the badge animation." in text,
        "prompts/get implement-task fills in the task, its description, the repository and the notes",
        f"got {text!r}",
    )
    text = await prompt_text(client, c, "hotfix", {"service": "cart-api", "severity": "sev2", "task_id": task_id})
    c.ok(
        text.startswith("Hotfix for cart-api (sev2).\nTask: Cart badge shows stale count (status todo"),
        "prompts/get hotfix renders the workspace template with the task",
        f"got {text!r}",
    )

    # --- a missing argument is a clear JSON-RPC error ----------------------------------------
    c.step = "prompts/get fix-bug without symptom"
    try:
        await client.get_prompt("fix-bug", {"steps": "open the cart"})
    except MCPError as e:
        c.ok(
            e.code == INVALID_PARAMS and "symptom" in e.message,
            f"prompts/get fix-bug without `symptom` is JSON-RPC error {INVALID_PARAMS} naming it",
            f"got code {e.code} message {e.message!r}",
        )
    else:
        raise CheckFailed("prompts/get fix-bug without symptom: expected an error, got a result")
    c.step = "prompts/get of an unknown prompt"
    try:
        await client.get_prompt("does-not-exist", {})
    except MCPError as e:
        c.ok(
            e.code == INVALID_PARAMS and "does-not-exist" in e.message,
            "prompts/get of an unknown prompt is an invalid-params error naming it",
            f"got code {e.code} message {e.message!r}",
        )
    else:
        raise CheckFailed("prompts/get does-not-exist: expected an error, got a result")

    # --- completion/complete ------------------------------------------------------------------
    values = await completions(client, c, PromptReference(name="implement-task"), "task_id", "cart")
    c.ok(values == [task_id], "completing task_id with 'cart' suggests the cart task's id", f"got {values}")
    values = await completions(client, c, PromptReference(name="implement-task"), "task_id", "")
    c.ok(len(values) == 2 and task_id in values, "completing an empty task_id suggests every task", f"got {values}")
    values = await completions(client, c, PromptReference(name="fix-bug"), "symptom", "Check")
    c.ok(values == ["Checkout button misaligned"], "completing fix-bug's symptom suggests task titles", f"got {values}")
    values = await completions(client, c, PromptReference(name="hotfix"), "severity", "sev")
    c.ok(values == ["sev1", "sev2", "sev3"], "completing hotfix's severity offers its declared values", f"got {values}")
    values = await completions(
        client, c, ResourceTemplateReference(uri="kanban://tasks/{task_id}"), "task_id", task_id[:13]
    )
    c.ok(task_id in values, "completing the task resource template's task_id suggests task ids", f"got {values}")


def cli() -> int:
    return run_cli("python-sdk prompts", __doc__, lambda client, c, _args: run_checks(client, c))


if __name__ == "__main__":
    sys.exit(cli())

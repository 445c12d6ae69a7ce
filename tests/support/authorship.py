"""The authorship tests' shared step: a user whose token carries `name`/`email` creates a linked template, so the
commit gitconnect makes can be checked for its author on each provider."""

from __future__ import annotations

from typing import Any

from tests.support.inprocess import Reply, System

NAME, EMAIL = "Ada Lovelace", "ada@example.com"


def create_authored(system: System, team: str, connection_id: str, repository: str) -> Reply:
    """POST …/templates as Ada, creating `authored.json` on main ("Add authored"); the answer, checked 201."""
    ada = system.token({team: "admin"}, "user-ada", {"name": NAME, "email": EMAIL})
    gitops: dict[str, Any] = {"connection_id": connection_id, "repository": repository, "branch": "main",
                              "path": "authored.json", "mode": "create", "commit_message": "Add authored"}
    created = system.call("POST", f"/v1/teams/{team}/templates", token=ada,
                          body={"name": "authored", "content": {"n": 1}, "gitops": gitops})
    assert created.status == 201, created.body
    return created

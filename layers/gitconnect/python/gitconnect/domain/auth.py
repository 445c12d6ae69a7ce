"""Who is calling and what they may do (DESIGN.md §4: `teams` claim maps team id -> "admin" | "member")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from gitconnect.domain.errors import ForbiddenError

Role = Literal["admin", "member"]
_RANK = {"member": 1, "admin": 2}


@dataclass(frozen=True)
class Principal:
    user_id: str
    teams: dict[str, str]
    name: str | None = None  # the token's `name` and `email` claims, when it has them: who authors app commits
    email: str | None = None

    def require(self, team_id: str, role: Role = "member") -> None:
        held = self.teams.get(team_id)
        if held is None:
            raise ForbiddenError(f"you are not a member of team {team_id!r}")
        if _RANK.get(held, 0) < _RANK[role]:
            raise ForbiddenError(f"this needs the {role!r} role in team {team_id!r}")

"""Who an app commit is authored by (DESIGN.md §2 "GitOps"): the user who saved, gitconnect committing it.

The team token's `name` and `email` claims author the commit when it has both (and they can stand in a Git
identity); otherwise gitconnect authors it and the message ends with a `Co-authored-by:` trailer naming the user id,
which GitHub, GitLab and Bitbucket show as a co-author."""

from __future__ import annotations

import re

from gitconnect.domain.auth import Principal
from gitconnect.providers.base import CommitAuthor

_EMAIL = re.compile(r"[^@\s<>]{1,64}@[^@\s<>]{1,190}")
_UNSAFE = re.compile(r"[<>\x00-\x1f\x7f]")  # would break (or forge) a `Name <email>` line or a trailer
_NOT_LOCAL_PART = re.compile(r"[^A-Za-z0-9._+-]")
TRAILER_DOMAIN = "users.gitconnect"


def _identity_text(text: str | None) -> str:
    return _UNSAFE.sub("", text or "").strip()[:200]


def commit_authorship(saver: Principal, message: str) -> tuple[CommitAuthor | None, str]:
    """The commit's author (None: gitconnect's identity) and its message."""
    name, email = _identity_text(saver.name), _identity_text(saver.email)
    if name and _EMAIL.fullmatch(email):
        return CommitAuthor(name, email), message
    user = _identity_text(saver.user_id) or "unknown"
    local = _NOT_LOCAL_PART.sub("-", user)[:64]
    return None, f"{message.rstrip()}\n\nCo-authored-by: {user} <{local}@{TRAILER_DOMAIN}>"

"""Who authors an app commit: the token's name and email when both can stand in a Git identity, otherwise gitconnect
with a Co-authored-by trailer naming the user id."""

from __future__ import annotations

import pytest

from gitconnect.domain.auth import Principal
from gitconnect.providers.base import CommitAuthor
from gitconnect.services.authorship import commit_authorship


def test_name_and_email_author_the_commit() -> None:
    saver = Principal("u1", {}, name="Ada Lovelace", email="ada@example.com")
    assert commit_authorship(saver, "Save") == (CommitAuthor("Ada Lovelace", "ada@example.com"), "Save")
    assert CommitAuthor("Ada Lovelace", "ada@example.com").line == "Ada Lovelace <ada@example.com>"


@pytest.mark.parametrize(("name", "email"), [
    (None, None),
    ("Ada", None),
    (None, "ada@example.com"),
    ("Ada", "not an email"),
    ("<>", "ada@example.com"),  # nothing left of the name once cleaned
    ("Ada", "a@b@c"),
])
def test_otherwise_a_trailer_names_the_user(name: str | None, email: str | None) -> None:
    author, message = commit_authorship(Principal("google-oauth2|1 2", {}, name=name, email=email), "Save\n")
    assert author is None
    assert message == "Save\n\nCo-authored-by: google-oauth2|1 2 <google-oauth2-1-2@users.gitconnect>"


def test_identity_lines_cannot_be_forged() -> None:
    author, _ = commit_authorship(Principal("u1", {}, name="Eve <e@x>\nCo-authored-by: X", email="eve@example.com"),
                                  "m")
    assert author is not None and "<" not in author.name and "\n" not in author.name
    _, message = commit_authorship(Principal("u1\nSigned-off-by: X <x@y>", {}), "m")
    assert message.count("\n") == 2 and "<x@y>" not in message

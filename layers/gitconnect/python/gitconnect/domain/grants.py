"""The repositories an account grants a connection (a GitHub App installation: `all`, or `selected` ones), as the
connection's details keep and show them. Pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# A connection is one DynamoDB item (400 KB at most). GitHub names are at most 39 + 1 + 100 characters, so 1 000 of
# them stay under 150 KB; beyond that the list is cut and says so (the sources' own status stays exact).
MAX_LISTED_REPOSITORIES = 1000


def grant_details(selection: str | None, repositories: Iterable[str]) -> dict[str, object]:
    """`repository_selection`, and for `selected` the granted `owner/name`s (sorted, at most MAX_LISTED_REPOSITORIES,
    `repositories_truncated` when there were more); `all` lists none (`repositories: null`: every one)."""
    if selection != "selected":
        return {"repository_selection": selection, "repositories": None, "repositories_truncated": False}
    names = sorted(set(repositories), key=str.lower)
    return {
        "repository_selection": selection,
        "repositories": names[:MAX_LISTED_REPOSITORIES],
        "repositories_truncated": len(names) > MAX_LISTED_REPOSITORIES,
    }


def regranted(
    details: Mapping[str, object], selection: str | None, added: Iterable[str], removed: Iterable[str]
) -> dict[str, object]:
    """The details after the account granted `added` and revoked `removed` (an `installation_repositories` event,
    which names the selection it leaves)."""
    selection = selection or str(details.get("repository_selection") or "") or None
    if selection != "selected":
        return {**details, **grant_details(selection, ())}
    listed = details.get("repositories")
    current = {str(n) for n in listed} if isinstance(listed, list) else set()
    gone = {n.lower() for n in removed}
    kept = {n for n in current if n.lower() not in gone} | set(added)
    merged = {**details, **grant_details(selection, kept)}
    if details.get("repositories_truncated"):
        merged["repositories_truncated"] = True  # what was cut before is still unknown here
    return merged

"""Does this event build this source, and why (not)? Pure functions; the reason ends up in the delivery log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gitconnect.domain.events import HEADS, MergeGroupEvent, PullRequestEvent, PushEvent, ReleaseEvent, TagEvent
from gitconnect.domain.models import Source
from gitconnect.domain.rules import matches_any

DEFAULT_SKIP_FLAGS = ("[skip ci]", "[ci skip]", "[no ci]", "[skip build]")
MERGE_QUEUE_PREFIX = "gh-readonly-queue/"  # GitHub's merge queue branches: gh-readonly-queue/<base>/pr-<n>-<sha>


@dataclass(frozen=True)
class Decision:
    build: bool
    reason: str
    trigger: str | None = None
    ref: str | None = None
    sha: str | None = None
    pull_request: dict[str, object] | None = None
    clone_url: str | None = None  # where `ref` is fetched from, when not the source's repository (a fork)


def skip(reason: str) -> Decision:
    return Decision(False, reason)


def push_files(event: PushEvent) -> list[str] | None:
    """Every file touched by any commit of the push, or None when the payload cannot say (truncated list,
    commits without file lists, or no commits listed for a push that moved a branch)."""
    if not event.commits_complete or any(c.files is None for c in event.commits):
        return None
    if not event.commits and not event.created:
        return None  # a forced push to an older commit lists no commits: the changes are unknown
    return sorted({f for c in event.commits for f in c.files or ()})


def paths_match(source: Source, files: Sequence[str]) -> bool:
    """Include globs (none = everything) pick the files that count; a change counts unless every file it touches
    is excluded."""
    included = [f for f in files if not source.paths.include or matches_any(f, source.paths.include)]
    return any(not matches_any(f, source.paths.exclude) for f in included)


def has_path_rules(source: Source) -> bool:
    return bool(source.paths.include or source.paths.exclude)


def skip_flag(source: Source, message: str | None) -> str | None:
    flags = source.skip_flags or DEFAULT_SKIP_FLAGS
    lowered = (message or "").lower()
    return next((f for f in flags if f.lower() in lowered), None)


WEBHOOK_FILES_UNKNOWN = "list truncated and not available from the API"


def decide_push(
    source: Source, event: PushEvent, files: Sequence[str] | None, unknown_why: str = WEBHOOK_FILES_UNKNOWN
) -> Decision:
    """`files`: the changed files when the source has path rules and they are known; None when unknown (then the
    build happens anyway, `unknown_why` in its reason: an explicit fallback, never a silent skip)."""
    kind = "tag" if event.is_tag else "branch"
    if event.deleted or event.after is None:
        return skip(f"{kind} {event.name} deleted: nothing to build")
    if event.is_tag:
        if not matches_any(event.name, source.tags):
            return skip(_unwatched_tag(source, event.name))
        return Decision(True, f"tag {event.name} pushed", "tag", event.ref, event.after)
    if event.name.startswith(MERGE_QUEUE_PREFIX):
        return skip(f"branch {event.name} is a merge queue's: its merge_group event builds it")
    if not matches_any(event.name, source.branches):
        watched = f"watched: {', '.join(source.branches)}" if source.branches else "the source watches no branches"
        return skip(f"branch {event.name} is not watched ({watched})")
    flag = skip_flag(source, event.head_message)
    if flag:
        return skip(f"the head commit asks to skip builds ({flag})")
    if has_path_rules(source):
        if files is None:
            return Decision(
                True,
                f"changed files unknown ({unknown_why}): built",
                "push",
                event.ref,
                event.after,
            )
        if not paths_match(source, files):
            return skip(f"none of the {len(files)} changed file(s) match the source's path rules")
    return Decision(True, f"push to {event.name}", "push", event.ref, event.after)


def decide_pull_request(source: Source, event: PullRequestEvent) -> Decision:
    rules = source.pull_requests
    if not rules.enabled:
        return skip("pull requests are not built for this source")
    if event.action == "closed":
        return skip("pull request closed: nothing to build, builds already requested are left alone")
    if event.action not in ("opened", "updated", "reopened"):
        what = event.other_action or event.action
        return skip(f"pull request #{event.number} {what}: only opening, reopening or new commits build")
    if rules.branches and not matches_any(event.base_ref, rules.branches):
        return skip(f"pull requests into {event.base_ref} are not watched")
    if event.from_fork is not False and rules.forks == "skip":
        why = "comes from a fork" if event.from_fork else "comes from a repository that no longer exists"
        return skip(f"pull request #{event.number} {why} and the source skips forks")
    flag = skip_flag(source, event.title)
    if flag:
        return skip(f"the pull request title asks to skip builds ({flag})")
    return Decision(
        True,
        f"pull request #{event.number} {event.action}",
        "pull_request",
        event.fetch_ref,
        event.head_sha,
        {
            "number": event.number,
            "head_ref": event.head_ref,
            "base_ref": event.base_ref,
            "from_fork": event.from_fork,
            "title": event.title,
        },
        event.fetch_url,
    )


def _unwatched_tag(source: Source, tag: str) -> str:
    if not source.tags:
        return f"tag {tag}: the source builds no tags"
    return f"tag {tag} is not watched (watched: {', '.join(source.tags)})"


def decide_tag(source: Source, event: TagEvent, sha: str | None) -> Decision:
    if not matches_any(event.tag, source.tags):
        return skip(_unwatched_tag(source, event.tag))
    if sha is None:
        return skip(f"tag {event.tag} could not be resolved to a commit")
    return Decision(True, f"tag {event.tag} created", "tag", f"refs/tags/{event.tag}", sha)


def decide_release(source: Source, event: ReleaseEvent, sha: str | None) -> Decision:
    if event.action != "published":
        return skip("only published releases build")
    if not source.releases:
        return skip("releases are not built for this source")
    if sha is None:
        return skip(f"release tag {event.tag} could not be resolved to a commit")
    return Decision(True, f"release {event.tag} published", "release", f"refs/tags/{event.tag}", sha)


def decide_merge_group(source: Source, event: MergeGroupEvent) -> Decision:
    """A merge queue's group is built when the branch it merges into is watched: the queue waits for the status on
    its head commit ("require gitconnect" then works with a merge queue)."""
    if event.action != "checks_requested":
        return skip(f"merge group {event.action}: builds already requested are left alone")
    base = event.base_ref.removeprefix(HEADS)
    if not matches_any(base, source.branches):
        return skip(f"merge groups into {base} are not built (watched: {', '.join(source.branches) or 'no branches'})")
    return Decision(True, f"merge group into {base}", "merge_group", event.head_ref, event.head_sha)

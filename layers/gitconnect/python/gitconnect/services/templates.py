"""Templates and release flows, and their GitOps link (DESIGN.md §2 "GitOps").

- Saving in the app commits the file through the provider's own optimistic concurrency (GitHub blob sha, GitLab
  `last_commit_id`, Bitbucket `parents`, a fast-forward push for Custom Git): a file changed in the repository since
  the last sync makes the save a 409 that shows the repository's content; nothing is overwritten.
- A save whose `base_version` is not the latest is a 409 with both versions.
- A push that changes the linked file becomes a new version (`origin: git`) from that commit. The commit gitconnect
  made itself does not: the link remembers it (and content equal to the template's is never a new version), so there
  is no loop.
- Invalid JSON pushed to the repository is not applied: the template keeps its last good version and the link says
  why, at which commit.
- Each new version requests a run when the template runs on update (concurrency per RunService).
- Pull-request mode (`gitops.write: "pull_request"`) and the `gitconnect/template` check of pull requests are
  services/pull_requests.py's; a direct save the provider refuses because the branch is protected is a 409 that says
  to use pull-request mode.
- Syncs from Git go through the FIFO gitops queue (services/gitops_queue.py): a push only sends a request; drift is
  checked per due template, the branch head first (services/drift.py). A Git trigger's run id is derived from the
  template, the trigger and the commit, so a push seen twice requests one run.
"""

from __future__ import annotations

import builtins  # annotations in classes whose method `list` shadows the builtin
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol

from gitconnect.domain.auth import Principal
from gitconnect.domain.errors import (
    BadRequestError,
    ConflictError,
    ForbiddenError,
    GitconnectError,
    NotFoundError,
    ProtectedBranchError,
    UnprocessableError,
)
from gitconnect.domain.events import PullRequestEvent, PushEvent, RepoRef, WebhookEvent
from gitconnect.domain.ids import iso, new_id, utcnow
from gitconnect.domain.matching import decide_pull_request, decide_push, has_path_rules
from gitconnect.domain.models import Connection
from gitconnect.domain.templates import (
    GitOpsLink,
    Template,
    TemplateVersion,
    Triggers,
    file_path,
    parse_document,
    render,
)
from gitconnect.providers.base import (
    Access,
    ChangeRequests,
    CommitCheck,
    CommitChecks,
    Committed,
    FileChange,
    GitOpsFiles,
    GitOpsProvider,
    Provider,
    ShortHashes,
)
from gitconnect.services import pull_requests
from gitconnect.services.authorship import commit_authorship
from gitconnect.services.drift import DriftSchedule, trigger_run_id
from gitconnect.services.gitops_queue import SyncRequest, SyncRequests
from gitconnect.services.hooks import HookService
from gitconnect.services.pull_requests import CHECKED_ACTIONS, Proposal, ProposingProvider
from gitconnect.services.runs import RunService
from gitconnect.services.secrets import ConnectionSecrets

log = logging.getLogger(__name__)
FULL_SHA_LENGTH = 40


class TemplateStore(Protocol):
    def get(self, team_id: str, template_id: str) -> Template | None: ...
    def list(self, team_id: str) -> builtins.list[Template]: ...
    def for_connection(self, connection_id: str) -> builtins.list[Template]: ...
    def linked_to(self, repository: str) -> builtins.list[Template]: ...
    def triggered_by(self, repository: str) -> builtins.list[Template]: ...
    def linked(self) -> builtins.list[Template]: ...
    def schedule_drift_if_absent(self, template: Template) -> bool: ...
    def create(self, template: Template, first: TemplateVersion) -> None: ...
    def save_version(self, template: Template, version: TemplateVersion | None, expected_version: int) -> None: ...
    def delete(self, team_id: str, template_id: str) -> None: ...
    def versions(self, template_id: str) -> builtins.list[TemplateVersion]: ...


@dataclass(frozen=True)
class RepositoryTemplates:
    linked: list[Template]
    triggered: list[Template]


class Connections(Protocol):
    def get(self, team_id: str, connection_id: str) -> Connection: ...


class CheckRequests(Protocol):
    def request_check(self, connection: Connection, check: CommitCheck) -> None: ...


class _Target:
    """Where a link's file lives, with what to reach it."""

    def __init__(self, provider: GitOpsProvider, access: Access, repository: str) -> None:
        self.provider, self.access, self.repository = provider, access, repository

    def proposing(self) -> ProposingProvider:
        """The provider, when it has pull requests (pull-request mode); Custom Git has none: 422."""
        if not isinstance(self.provider, ChangeRequests):
            raise UnprocessableError(
                f"{self.provider.id!r} repositories have no pull requests: `gitops.write` must be \"direct\" there"
            )
        return self.provider

    def commit(self, change: FileChange, hint: str) -> Committed:
        """A direct commit; a protected branch's refusal says how to save instead (`hint`)."""
        try:
            return self.provider.commit_file(self.access, self.repository, change)
        except ProtectedBranchError as exc:
            raise ProtectedBranchError(
                f"{change.branch} of {self.repository} is protected and refused the commit ({exc.detail}): {hint}",
                suggested_write="pull_request",
            ) from None


class TemplateService:
    def __init__(
        self,
        store: TemplateStore,
        connections: Connections,
        secrets: ConnectionSecrets,
        providers: Callable[[str], Provider],
        runs: RunService,
        checks: CheckRequests | None = None,
        requests: SyncRequests | None = None,
        drift: DriftSchedule | None = None,
        hooks: HookService | None = None,
    ) -> None:
        self._store, self._connections, self._secrets = store, connections, secrets
        self._providers, self._runs, self._checks = providers, runs, checks
        self._requests, self._drift, self._hooks = requests, drift or DriftSchedule(), hooks

    def _scheduled(self, template: Template) -> Template:
        """The template's drift check scheduled (services/drift.py), by what its connection's provider can do."""
        owner = template.linked or template.triggers
        if owner is None:
            return self._drift.scheduled(template, None)
        connection = self._connections.get(template.team_id, owner.connection_id)
        return self._drift.scheduled(template, self._providers(connection.provider))

    def schedule_drift_if_absent(self, team_id: str, template_id: str) -> bool:
        """Give a template stored before drift due times existed its first drift check (services/backfill.py): as
        its connection's provider decides (polled or not, its group's phase). False when it has one, is gone, or its
        connection is (nothing to check then)."""
        template = self._store.get(team_id, template_id)
        if template is None or template.drift_due_at is not None:
            return False
        try:
            scheduled = self._scheduled(template)
        except NotFoundError:  # its connection was removed: the unlink's cleanup owns it
            return False
        return self._store.schedule_drift_if_absent(scheduled)

    # ------------------------------------------------------------------ where files live
    def target(self, team_id: str, connection_id: str, repository: str | None) -> _Target:
        """The provider, access and repository of a link (checked: the team's connection, inside its restrictions,
        a provider that can read and commit files)."""
        connection = self._connections.get(team_id, connection_id)
        provider = self._providers(connection.provider)
        if not isinstance(provider, GitOpsFiles):
            raise UnprocessableError(f"{connection.provider!r} connections cannot sync files yet")
        access = self._secrets.access(connection)
        repo = provider.repository(access, repository).repository
        if not connection.allows(repo):
            raise ForbiddenError(f"{repo} is outside the connection's namespace restrictions")
        return _Target(provider, access, repo)

    def fetch(self, team_id: str, connection_id: str, repository: str | None, branch: str, path: str) -> dict[str, Any]:
        target = self.target(team_id, connection_id, repository)
        found = target.provider.read_file(target.access, target.repository, branch, file_path(path))
        if found is None:
            return {"exists": False, "content": None, "sha": None}
        return {"exists": True, "content": parse_document(found.content), "sha": found.commit_sha}

    # ------------------------------------------------------------------ reading
    def get(self, team_id: str, template_id: str) -> Template:
        template = self._store.get(team_id, template_id)
        if template is None:
            raise NotFoundError(f"template {template_id!r} not found")
        return template

    def list(self, team_id: str) -> builtins.list[Template]:
        return self._store.list(team_id)

    def versions(self, team_id: str, template_id: str) -> builtins.list[TemplateVersion]:
        return self._store.versions(self.get(team_id, template_id).id)

    # ------------------------------------------------------------------ writing
    def create(self, team_id: str, saver: Principal, request: dict[str, Any]) -> Template:
        now = iso(utcnow())
        content = request.get("content")
        gitops: GitOpsLink | None = None
        origin: Literal["app", "git"] = "app"
        commit_sha: str | None = None
        author: str | None = saver.user_id
        spec = request.get("gitops")
        triggers_on = (request.get("triggers") or {}).get("connection_id")
        if spec and triggers_on and triggers_on != spec["connection_id"]:
            # One connection per template: it is how pushes find the template (and how unlinking finds it).
            raise BadRequestError("a release flow's Git triggers use the connection of its GitOps file")
        raw_triggers = request.get("triggers")  # checked before anything is committed
        triggers = None if raw_triggers is None else self._triggers(team_id, request.get("kind"), raw_triggers)
        template_id = new_id("tpl")
        if spec is not None:
            path = file_path(spec["path"])
            target = self.target(team_id, spec["connection_id"], spec.get("repository"))
            repository, write = target.repository, spec.get("write", "direct")
            if write == "pull_request":
                target.proposing()  # refused before anything is committed where there are no pull requests
            gitops = GitOpsLink(spec["connection_id"], repository, spec["branch"], path, "synced", write=write)
            if spec["mode"] == "create":
                if content is None:
                    raise BadRequestError("`content` is required to save a new file")
                message = spec.get("commit_message") or f"Add {request['name']} ({path})"
                gitops = self._add_file(target, gitops, template_id, content, saver, message)
                commit_sha = gitops.last_synced_sha
            else:  # link: the file is the content
                found = target.provider.read_file(target.access, repository, spec["branch"], path)
                if found is None:
                    raise UnprocessableError(f"there is no file at {path} on {spec['branch']} of {repository}")
                content, origin, author = parse_document(found.content), "git", found.author
                commit_sha = found.commit_sha
                gitops = replace(gitops, last_synced_sha=commit_sha, file_version=found.version)
        if content is None:
            raise BadRequestError("`content` is required")
        render(content)  # refuses a document too large to store
        template = Template(
            team_id=team_id,
            id=template_id,
            name=request["name"],
            kind=request.get("kind", "template"),
            content=content,
            version=1,
            run_on_update=bool(request.get("run_on_update")),
            concurrency=request.get("concurrency", "allow"),
            created_at=now,
            updated_at=now,
            gitops=gitops,
            triggers=triggers,
        )
        first = TemplateVersion(template.id, 1, content, origin, now, commit_sha, author)
        template = self._scheduled(template)
        self._hooked(None, template, lambda: self._store.create(template, first))
        return template

    def _triggers(self, team_id: str, kind: str | None, raw: dict[str, Any]) -> Triggers:
        if kind != "release_flow":
            raise BadRequestError("Git triggers are for release flows")
        repository = self.target(team_id, raw["connection_id"], raw.get("repository")).repository
        paths = raw.get("paths") or {}
        return Triggers(
            raw["connection_id"],
            repository,
            tuple(raw.get("branches") or ()),
            bool(raw.get("pull_requests")),
            tuple(paths.get("include") or ()),
            tuple(paths.get("exclude") or ()),
        )

    def configure(self, team_id: str, saver: Principal, template_id: str, request: dict[str, Any]) -> Template:
        """PATCH: the settings present in `request` change (`name`, `run_on_update`, `concurrency`, `triggers`,
        `gitops`), the others stay. `gitops` turns GitOps on exactly as at creation (`create` commits the template's
        content to a new file, `link` takes the file's content, a new version when it differs) or off (`null`: the
        file stays in the repository, the template keeps its content and versions). Everything is checked before
        anything is committed or stored."""
        template = self.get(team_id, template_id)
        for key in ("name", "run_on_update", "concurrency"):
            if key in request and request[key] is None:
                raise BadRequestError(f"`{key}` cannot be null")
        name = request.get("name", template.name)
        current = template.gitops if template.gitops is not None and template.gitops.status != "unlinked" else None
        spec = request.get("gitops")
        gitops = None if "gitops" in request else template.gitops
        if spec is not None and "mode" not in spec:  # `{"write": …}`: how saves reach the linked file
            gitops = self._write_mode(template, current, spec["write"])
            spec = None
        elif spec is not None and current is not None:
            raise ConflictError(
                f"the template is already linked to {current.path} on {current.branch} of {current.repository}: "
                "turn GitOps off (`gitops: null`) before linking another file"
            )
        kept = gitops if gitops is not None and gitops.status != "unlinked" else None
        link_connection = spec["connection_id"] if spec else _connection(kept)
        triggers = template.triggers
        if "triggers" in request:
            raw = request["triggers"]
            triggers = None if raw is None else self._triggers(team_id, template.kind, raw)
        if link_connection and triggers and triggers.connection_id != link_connection:
            raise BadRequestError("a release flow's Git triggers use the connection of its GitOps file")
        now = iso(utcnow())
        saved = replace(
            template,
            name=name,
            run_on_update=request.get("run_on_update", template.run_on_update),
            concurrency=request.get("concurrency", template.concurrency),
            triggers=triggers,
            updated_at=now,
            gitops=gitops,
        )
        version: TemplateVersion | None = None
        if spec is not None:
            saved, version = self._link(saved, saver, spec, now)
        saved = self._scheduled(saved)
        self._hooked(template, saved, lambda: self._store.save_version(saved, version, template.version))
        if version is not None and saved.run_on_update:
            self._runs.request(saved, f"version {saved.version} from commit {(version.commit_sha or '')[:12]}")
        return saved

    def _write_mode(self, template: Template, current: GitOpsLink | None, write: str) -> GitOpsLink:
        if current is None:
            raise ConflictError(
                "the template is not linked to a file: link one (`gitops` with `connection_id`, `branch`, `path` and "
                "`mode`) to choose how saves reach it"
            )
        if write == "pull_request":
            self.target(template.team_id, current.connection_id, current.repository).proposing()
        return replace(current, write="pull_request" if write == "pull_request" else "direct")

    def _link(
        self, template: Template, saver: Principal, spec: dict[str, Any], now: str
    ) -> tuple[Template, TemplateVersion | None]:
        """GitOps turned on for an existing template: `create` commits its content to a new file (refused when the
        file exists); `link` takes the file's content (a new version, from that commit, when it differs)."""
        path = file_path(spec["path"])
        target = self.target(template.team_id, spec["connection_id"], spec.get("repository"))
        write = spec.get("write", "direct")
        if write == "pull_request":
            target.proposing()
        link = GitOpsLink(spec["connection_id"], target.repository, spec["branch"], path, "synced", write=write)
        version: TemplateVersion | None = None
        if spec["mode"] == "create":
            message = spec.get("commit_message") or f"Add {template.name} ({path})"
            link = self._add_file(target, link, template.id, template.content, saver, message)
        else:
            found = target.provider.read_file(target.access, target.repository, spec["branch"], path)
            if found is None:
                raise UnprocessableError(f"there is no file at {path} on {spec['branch']} of {target.repository}")
            content = parse_document(found.content)
            commit_sha = found.commit_sha
            link = replace(link, last_synced_sha=commit_sha, file_version=found.version)
            if content != template.content:
                template = replace(template, content=content, version=template.version + 1)
                version = TemplateVersion(template.id, template.version, content, "git", now, commit_sha, found.author)
        return replace(template, gitops=link), version

    @staticmethod
    def _add_file(
        target: _Target, link: GitOpsLink, template_id: str, content: dict[str, Any], saver: Principal, message: str
    ) -> GitOpsLink:
        """`mode: create`: the content committed to a new file; in pull-request mode proposed in a pull request
        instead (the link has no synced commit until the change is merged)."""
        by, text = commit_authorship(saver, message)
        if link.write == "pull_request":
            proposal = Proposal(render(content), text, by, text.splitlines()[0], _described(link.path))
            opened = pull_requests.propose(target.proposing(), target.access, link, template_id, proposal)
            return replace(link, last_pull_request=opened)
        committed = target.commit(FileChange(link.branch, link.path, render(content), text, None, by), _CREATE_HINT)
        return replace(link, last_synced_sha=committed.sha, file_version=committed.version)

    def update(
        self,
        team_id: str,
        saver: Principal,
        template_id: str,
        content: dict[str, Any],
        base_version: int,
        message: str | None,
        replaces_commit: str | None = None,
    ) -> Template:
        """A new version from the app, committed to the linked file. While the repository holds an invalid file, only
        a save that names its commit (`replaces_commit`) commits, and only over that very file version."""
        template = self.get(team_id, template_id)
        if base_version != template.version:
            raise ConflictError(
                f"version {base_version} is not the latest ({template.version}): merge and save again",
                current={"version": template.version, "content": template.content},
                yours={"base_version": base_version, "content": content},
            )
        render(content)
        now = iso(utcnow())
        link, commit_sha = template.gitops, None
        if link is not None and link.status != "unlinked" and link.write == "pull_request":
            # Proposed, not saved: the template takes the version when the change reaches the linked branch.
            proposed = self._propose(template, link, saver, content, message)
            saved = replace(template, updated_at=now, gitops=replace(link, last_pull_request=proposed))
            self._store.save_version(saved, None, template.version)
            return saved
        if link is not None and link.status != "unlinked":
            expected = self._expected_file(template, link, replaces_commit)
            target = self.target(team_id, link.connection_id, link.repository)
            by, text = commit_authorship(saver, message or f"Update {template.name} (version {template.version + 1})")
            try:
                change = FileChange(link.branch, link.path, render(content), text, expected, by)
                committed = target.commit(change, _update_hint(team_id, template.id))
            except ProtectedBranchError:
                raise
            except ConflictError:
                found = target.provider.read_file(target.access, link.repository, link.branch, link.path)
                raise ConflictError(
                    f"{link.path} changed in the repository since the last sync: nothing was saved",
                    repository={
                        "sha": None if found is None else found.commit_sha,
                        "content": None if found is None else _lenient(found.content),
                    },
                    current={"version": template.version, "content": template.content},
                ) from None
            commit_sha = committed.sha
            link = _synced(link, commit_sha, committed.version)
        elif replaces_commit is not None:
            raise ConflictError("`replaces_commit` names a file to replace, but the template is not linked to one")
        saved = replace(template, content=content, version=template.version + 1, updated_at=now, gitops=link)
        version = TemplateVersion(template.id, saved.version, content, "app", now, commit_sha, saver.user_id)
        self._store.save_version(saved, version, template.version)
        if saved.run_on_update:
            self._runs.request(saved, f"version {saved.version} saved in the app")
        return saved

    def _propose(
        self, template: Template, link: GitOpsLink, saver: Principal, content: dict[str, Any], message: str | None
    ) -> dict[str, Any]:
        """A save in pull-request mode: committed to the template's branch, its pull request opened or updated.
        Whatever the linked branch holds (an invalid file too) is replaced only by merging it."""
        target = self.target(template.team_id, link.connection_id, link.repository)
        by, text = commit_authorship(saver, message or f"Update {template.name} (proposed by gitconnect)")
        title = f"Update {template.name}: {text.splitlines()[0]}"[:200]
        proposal = Proposal(render(content), text, by, title, _described(link.path))
        try:
            return pull_requests.propose(target.proposing(), target.access, link, template.id, proposal)
        except ProtectedBranchError:
            raise
        except ConflictError:
            raise ConflictError(
                f"another save reached {pull_requests.proposal_branch(template.id)} first: nothing was saved, "
                "save again",
                current={"version": template.version, "content": template.content},
            ) from None

    @staticmethod
    def _expected_file(template: Template, link: GitOpsLink, replaces_commit: str | None) -> str | None:
        """The file version a save may commit over: the last synced one; while an invalid file was refused, that
        file's version, and only for a save naming its commit (a newer push makes the provider refuse the commit)."""
        refused_at = (link.last_error or {}).get("commit_sha")
        if link.status == "error" and link.refused_version is not None:
            if replaces_commit != refused_at:
                raise ConflictError(
                    f"the repository holds an invalid {link.path} (commit {refused_at}): to replace it with this "
                    f'content, save again with "replaces_commit": "{refused_at}"',
                    commit_sha=refused_at,
                    reason=(link.last_error or {}).get("reason"),
                    current={"version": template.version, "content": template.content},
                )
            return link.refused_version
        if replaces_commit is not None:
            raise ConflictError(
                f"`replaces_commit` names a file to replace, but the repository holds no invalid {link.path}",
                current={"version": template.version, "content": template.content},
            )
        return link.file_version

    def delete(self, team_id: str, template_id: str) -> None:
        template = self.get(team_id, template_id)
        self._hooked(template, None, lambda: self._store.delete(team_id, template.id))

    # ------------------------------------------------------------------ repository webhooks (services/hooks.py)
    def _hooked(self, before: Template | None, after: Template | None, store: Callable[[], None]) -> None:
        """`store()` with the repository webhooks the template needs (GitLab, Bitbucket: its file's and its triggers'
        repositories): acquired first, so a template that cannot receive its repository's events is not stored (and
        released again if storing fails); those it no longer needs released once it is stored."""
        old, new = _hook_users(before), _hook_users(after)
        acquired: list[tuple[str, str, str, str]] = []
        try:
            for need in sorted(new - old):
                if self._acquire(*need):
                    acquired.append(need)
            store()
        except Exception:
            for need in acquired:
                self._release(*need)
            raise
        for need in sorted(old - new):
            self._release(*need)

    def _acquire(self, team_id: str, connection_id: str, repository: str, user: str) -> bool:
        if self._hooks is None:
            return False
        connection = self._connections.get(team_id, connection_id)
        if not self._hooks.manages(connection.provider):
            return False
        access = self._secrets.access(connection)
        found = self._providers(connection.provider).repository(access, repository)
        if found.id is None:
            return False
        self._hooks.acquire(connection, RepoRef.named(found.repository, found.id), user)
        return True

    def _release(self, team_id: str, connection_id: str, repository: str, user: str) -> None:
        if self._hooks is None:
            return
        try:
            connection = self._connections.get(team_id, connection_id)
        except NotFoundError:
            return  # unlinked: its hooks went with it
        if self._hooks.manages(connection.provider):
            self._hooks.release_repository(self._secrets.access(connection), connection_id, repository, user)

    # ------------------------------------------------------------------ from Git
    def sync(self, template: Template, *, commit_hint: str | None = None) -> str:
        """Bring a linked template up to its file: "unchanged", "synced" (the same content at a newer commit),
        "updated" (a new version), "invalid" (refused, the link says why) or "missing"."""
        link = template.gitops
        if link is None or link.status == "unlinked":
            return "unchanged"
        target = self.target(template.team_id, link.connection_id, link.repository)
        found = target.provider.read_file(target.access, link.repository, link.branch, link.path)
        now = iso(utcnow())
        if found is None and link.file_version is None and link.last_pull_request is not None:
            return "missing"  # created in pull-request mode: the file reaches the branch when that is merged
        if found is None:
            reason = f"{link.path} is not on {link.branch} any more"
            if link.status != "error" or (link.last_error or {}).get("reason") != reason:
                error = {"reason": reason, "commit_sha": commit_hint, "at": now}
                self._store.save_version(
                    replace(template, gitops=replace(link, status="error", last_error=error, refused_version=None)),
                    None,
                    template.version,
                )
            return "missing"
        if found.version == link.file_version:
            # The branch head the drift check saw (GitLab names the file's last commit, not the head).
            seen = commit_hint or found.commit_sha
            if link.status == "synced" and seen != link.last_synced_sha:
                # The branch moved without touching the file: remember the commit, so that the next drift check
                # finds the head unchanged and reads nothing.
                self._store.save_version(
                    replace(template, gitops=replace(link, last_synced_sha=seen)), None, template.version
                )
            return "unchanged"
        try:
            content = parse_document(found.content)
        except GitconnectError as exc:
            error = {"reason": exc.detail, "commit_sha": found.commit_sha, "at": now}
            if link.status != "error" or (link.last_error or {}).get("commit_sha") != found.commit_sha:
                refused = replace(link, status="error", last_error=error, refused_version=found.version)
                self._store.save_version(replace(template, gitops=refused), None, template.version)
            return "invalid"
        fresh = _synced(link, found.commit_sha, found.version)
        if content == template.content:  # gitconnect's own commit, or a commit that left the file as it is
            self._store.save_version(replace(template, gitops=fresh), None, template.version)
            return "synced"
        saved = replace(template, content=content, version=template.version + 1, updated_at=now, gitops=fresh)
        version = TemplateVersion(template.id, saved.version, content, "git", now, found.commit_sha, found.author)
        self._store.save_version(saved, version, template.version)
        if saved.run_on_update:
            self._runs.request(saved, f"version {saved.version} from commit {found.commit_sha[:12]}")
        return "updated"

    def for_repository(self, repository: str) -> RepositoryTemplates:
        """What a delivery about `repository` may concern (two index reads, whatever the number of teams): the
        templates linked to a file there and the release flows triggered by it."""
        return RepositoryTemplates(self._store.linked_to(repository), self._store.triggered_by(repository))

    def on_delivery(
        self,
        connection: Connection,
        events: tuple[WebhookEvent, ...],
        found: RepositoryTemplates,
        files: Callable[[PushEvent], builtins.list[str] | None],
    ) -> builtins.list[str]:
        """A delivery's events on this connection: templates it links on a branch a push moved get a sync request on
        the gitops queue (applied there, in order), and its release flows whose Git triggers match a push or a pull
        request request a run. What happened, for the delivery log."""
        outcomes: list[str] = []
        requests: list[SyncRequest] = []
        for event in events:
            if not isinstance(event, PushEvent | PullRequestEvent):
                continue
            repository = event.repository.full_name
            if isinstance(event, PushEvent) and not event.is_tag and not event.deleted:
                for template in found.linked:
                    link = template.gitops
                    if (
                        link
                        and link.status != "unlinked"
                        and link.connection_id == connection.id
                        and (link.repository, link.branch) == (repository, event.name)
                    ):
                        requests.append(SyncRequest.of(template, event.after))
                        outcomes.append(f"template {template.name}: sync requested")
            if isinstance(event, PullRequestEvent) and event.action in CHECKED_ACTIONS:
                outcomes.extend(self._check(connection, event, found.linked))
            for template in found.triggered:
                triggers = template.triggers
                if (
                    template.kind == "release_flow"
                    and triggers
                    and triggers.connection_id == connection.id
                    and triggers.repository == repository
                ):
                    outcomes.extend(self._trigger(template, triggers, event, files))
        if requests:
            if self._requests is None:
                raise RuntimeError("no gitops queue is configured for template syncs")
            self._requests.send(requests)  # a failure fails the delivery, which is retried (deduplicated there)
        return outcomes

    def _check(
        self, connection: Connection, event: PullRequestEvent, templates: builtins.list[Template]
    ) -> builtins.list[str]:
        """The `gitconnect/template` check of a pull request into a branch with linked files (services/pull_requests),
        sent through the status queue. A provider that could not be read leaves the pull request unchecked."""
        linked = [
            t
            for t in templates
            if t.gitops is not None
            and t.gitops.status != "unlinked"
            and t.gitops.connection_id == connection.id
            and (t.gitops.repository, t.gitops.branch) == (event.repository.full_name, event.base_ref)
        ]
        if not linked or self._checks is None:
            return []
        try:
            target = self.target(connection.team_id, connection.id, event.repository.full_name)
            provider = target.proposing()
            if not isinstance(provider, CommitChecks):
                return []
            if len(event.head_sha) < FULL_SHA_LENGTH and isinstance(provider, ShortHashes):
                # Bitbucket's pull request payloads name 12-character hashes; statuses go on the full commit.
                full = provider.full_commit(target.access, event.repository, event.head_sha)
                if full is None:
                    return [f"pull request #{event.number}: not checked (its head {event.head_sha} is unknown)"]
                event = replace(event, head_sha=full)
            check = pull_requests.check_pull_request(provider, target.access, event, linked)
        except GitconnectError as exc:
            log.warning("pull request not checked", extra={"number": event.number, "reason": exc.detail})
            return [f"pull request #{event.number}: not checked ({exc.detail})"]
        if check is None:
            return [f"pull request #{event.number}: changes no linked file"]
        self._checks.request_check(connection, check)
        return [f"pull request #{event.number}: {check.name} {check.state} ({check.title})"]

    def _trigger(
        self,
        template: Template,
        triggers: Triggers,
        event: PushEvent | PullRequestEvent,
        files: Callable[[PushEvent], builtins.list[str] | None],
    ) -> builtins.list[str]:
        """A release flow's Git triggers decided like a source's rules (branch globs, path rules over the push's
        files, pull request actions); a run when they match."""
        rules = triggers.as_source(template.id, template.team_id)
        if isinstance(event, PushEvent):
            if event.is_tag or not triggers.branches:
                return []
            decision = decide_push(rules, event, files(event) if has_path_rules(rules) else None)
        else:
            if not triggers.pull_requests:
                return []
            decision = decide_pull_request(rules, event)
        if not decision.build:
            return [f"release flow {template.name}: {decision.reason}"]
        details = {"trigger": decision.trigger, "ref": decision.ref, "sha": decision.sha}
        run_id = trigger_run_id(template.id, str(decision.trigger), str(decision.ref), str(decision.sha))
        run = self._runs.request(template, decision.reason, details=details, run_id=run_id)
        return [f"release flow {template.name}: run {run.id} ({run.status})"]

    def unlinked(self, connection_id: str) -> None:
        """The connection is gone: its templates keep their content, marked unlinked, and stop syncing."""
        for template in self._store.for_connection(connection_id):
            if template.gitops is not None:
                link = replace(template.gitops, status="unlinked")
                self._store.save_version(replace(template, gitops=link), None, template.version)


_CREATE_HINT = (
    'create it in pull-request mode ("gitops": {…, "write": "pull_request"}) to propose the file through a pull request'
)


def _update_hint(team_id: str, template_id: str) -> str:
    return (
        f"save through pull requests instead: PATCH /v1/teams/{team_id}/templates/{template_id} "
        '{"gitops": {"write": "pull_request"}}, then save again'
    )


def _described(path: str) -> str:
    return (
        f"Proposed by gitconnect: a save of `{path}` from the app, in pull-request mode. Merging it updates the "
        "template in the app; a later save updates this pull request."
    )


def _hook_users(template: Template | None) -> set[tuple[str, str, str, str]]:
    """(team, connection, repository, user) for each repository whose webhook the template needs."""
    if template is None:
        return set()
    needs = set()
    if template.linked is not None:
        link = template.linked
        needs.add((template.team_id, link.connection_id, link.repository, f"tpl#{template.id}"))
    if template.triggers is not None:
        triggers = template.triggers
        needs.add((template.team_id, triggers.connection_id, triggers.repository, f"trg#{template.id}"))
    return needs


def _connection(link: GitOpsLink | None) -> str | None:
    return None if link is None else link.connection_id


def _synced(link: GitOpsLink, commit_sha: str, file_version: str) -> GitOpsLink:
    return replace(
        link,
        status="synced",
        last_synced_sha=commit_sha,
        file_version=file_version,
        last_error=None,
        refused_version=None,
    )


def _lenient(raw: bytes) -> Any:
    try:
        return parse_document(raw)
    except GitconnectError:
        return raw.decode("utf-8", "replace")

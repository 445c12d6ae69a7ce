"""What the API answers with, as pydantic models: the OpenAPI document's response schemas (the routes still answer the
domain records' `to_json()`; tests/functional/test_openapi_conformance.py holds every answer to these models).

Records that carry provider facts (a connection's `settings_url`, a run's triggering `ref`/`sha`) allow more fields;
every other model lists all its fields. Only the API functions import this module (never the webhook intake)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

BuildStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


# defer_build: a model's validator and schema are built when the document is, not at the function's cold import.
class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class Open(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)


class Problem(Open):
    """RFC 9457 problem details; some problems add members (`errors` of a 400, `commit_sha` of a 409, ...)."""

    type: str = Field(description="`about:blank`: the status code says it all")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str


class FieldError(Closed):
    field: str
    message: str


class InvalidRequest(Problem):
    """A 400 for a body, query or path value that is not valid: each field and why."""

    errors: list[FieldError] | None = None


class Health(Closed):
    status: Literal["ok"]


class RestrictionsOut(Closed):
    mode: Literal["unrestricted", "restricted"]
    namespaces: list[str] | None = Field(None, description="with `mode: restricted`")
    confirmed: bool = Field(description="false until an admin answers `PUT …/restrictions` (GitLab, Bitbucket)")


class ConnectionOut(Open):
    """A linked Git account; provider facts follow (`settings_url`, `repository_selection`, `workspace`, ...)."""

    id: str
    provider: str
    name: str
    account: str | None
    base_url: str | None
    status: str = Field(description="`active`, `suspended`, `uninstalled`, `needs_relink`")
    restrictions: RestrictionsOut
    created_at: str


class ConnectionList(Closed):
    items: list[ConnectionOut]


class AuthorizeOut(Closed):
    url: str = Field(description="where to send the browser (the App install or the OAuth authorize page)")


class RegeneratedOut(Closed):
    regenerated: int = Field(ge=0, description="webhooks given a new secret")


class RepositoryOut(Closed):
    id: str
    full_name: str
    namespace: str | None
    default_branch: str | None
    private: bool | None
    clone_url: str
    web_url: str | None


class RepositoryPage(Closed):
    items: list[RepositoryOut]
    next_cursor: str | None


class NamespaceOut(Closed):
    name: str
    allowed: bool


class NamespaceList(Closed):
    items: list[NamespaceOut]


class BranchOut(Closed):
    name: str
    sha: str


class BranchPage(Closed):
    items: list[BranchOut]
    next_cursor: str | None


class PullRequestRulesOut(Closed):
    enabled: bool
    branches: list[str]
    forks: Literal["skip", "build"]


class PathRulesOut(Closed):
    include: list[str]
    exclude: list[str]


class PollingOut(Closed):
    status: Literal["pending", "ok", "failing"]
    last_error: str | None
    last_polled_at: str | None
    consecutive_failures: int
    next_poll_at: str | None


class SourceOut(Closed):
    id: str
    name: str
    connection_id: str
    provider: str
    repository: str
    repository_id: str | None
    branches: list[str]
    pull_requests: PullRequestRulesOut
    tags: list[str]
    releases: bool
    paths: PathRulesOut
    skip_flags: list[str]
    poll: bool
    poll_seconds: int | None
    polling: PollingOut | None = Field(description="null unless `poll`")
    status: Literal["active", "access_revoked"]
    created_at: str
    updated_at: str


class SourceList(Closed):
    items: list[SourceOut]


class BuildOut(Closed):
    id: str
    source_id: str
    connection_id: str
    provider: str
    repository: str
    ref: str
    sha: str
    trigger: str = Field(description="`push`, `pull_request`, `tag`, `release`, `manual`, `poll`")
    triggers: list[str]
    status: BuildStatus
    pull_request: dict[str, Any] | None
    url: str | None
    description: str | None
    created_at: str
    updated_at: str


class BuildPage(Closed):
    items: list[BuildOut]
    next_cursor: str | None


class DeliveryOut(Closed):
    id: str
    provider: str
    event: str
    connection_id: str | None
    repository: str | None
    received_at: str
    outcome: Literal["built", "ignored", "duplicate", "rejected", "recovered"]
    reason: str
    build_ids: list[str]


class DeliveryPage(Closed):
    items: list[DeliveryOut]
    next_cursor: str | None


class FetchedFile(Closed):
    exists: bool
    content: dict[str, Any] | None = Field(description="the file's JSON object")
    sha: str | None = Field(description="the commit read")


class GitOpsOut(Closed):
    connection_id: str
    repository: str
    branch: str
    path: str
    status: Literal["synced", "error", "unlinked"]
    last_synced_sha: str | None
    last_error: dict[str, Any] | None = Field(description="`{reason, commit_sha, at}` of a refused pushed version")
    write: Literal["direct", "pull_request"] = Field(description="how a save reaches `branch`")
    last_pull_request: dict[str, Any] | None = Field(
        description="the latest save proposed by pull request: `{number, url, branch, commit_sha, action}`"
    )


class TriggersOut(Closed):
    connection_id: str
    repository: str
    branches: list[str]
    pull_requests: bool
    paths: PathRulesOut


class TemplateOut(Closed):
    id: str
    name: str
    kind: Literal["template", "release_flow"]
    content: dict[str, Any]
    version: int
    gitops: GitOpsOut | None
    triggers: TriggersOut | None
    run_on_update: bool
    concurrency: Literal["allow", "queue", "forbid"]
    created_at: str
    updated_at: str


class Proposed(TemplateOut):
    """A save in pull-request mode: the template as it was, and the pull request that proposes the content."""

    pull_request: dict[str, Any] | None


class TemplateList(Closed):
    items: list[TemplateOut]


class VersionOut(Closed):
    version: int
    origin: Literal["app", "git"]
    commit_sha: str | None
    author: str | None
    created_at: str


class VersionList(Closed):
    items: list[VersionOut]


class RunOut(Open):
    """A run; one a push or pull request requested adds its `trigger`, `ref` and `sha`."""

    id: str
    template_id: str
    version: int
    status: BuildStatus
    reason: str
    description: str | None
    created_at: str
    updated_at: str
    position: int | None = Field(None, description="under `concurrency: queue`, its place in the queue")


class RunList(Closed):
    items: list[RunOut]


class OpenApiDocument(Open):
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]

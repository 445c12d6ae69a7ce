"""Request bodies. Unknown fields are refused (a typo must not be silently ignored).

The link bodies (`CustomLink`, `GitLabTokenLink`, ...) are each provider's, named by its declaration; `LinkRequest`
is built from the registry."""

from __future__ import annotations

import operator
from functools import reduce
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidatorFunctionWrapHandler, WrapValidator, model_validator

from gitconnect.domain.schedule import MAX_POLL_SECONDS, MIN_POLL_SECONDS
from gitconnect.providers import REGISTRY, declared
from gitconnect.providers.declaration import load

Name = Annotated[str, Field(min_length=1, max_length=100)]
Glob = Annotated[str, Field(min_length=1, max_length=200)]
Globs = Annotated[list[Glob], Field(max_length=50)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CustomCredentials(Strict):
    username: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    token: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    password: Annotated[str, Field(min_length=1, max_length=4096)] | None = None


class CustomLink(Strict):
    provider: Literal["custom"]
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    name: Name | None = None
    credentials: CustomCredentials | None = None


class GitLabTokenLink(Strict):
    """A personal, group or project access token on gitlab.com (`base_url` left out) or a self-hosted GitLab."""

    provider: Literal["gitlab"]
    token: Annotated[str, Field(min_length=1, max_length=4096)]
    base_url: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    name: Name | None = None


Secret = Annotated[str, Field(min_length=1, max_length=4096)]


class BitbucketLink(Strict):
    """Bitbucket Cloud: `workspace` + `username` (the Atlassian account's e-mail) + `api_token` (API tokens replaced
    app passwords), or a workspace/repository `access_token` (with its `workspace`, unless it may list workspaces)."""

    provider: Literal["bitbucket"]
    workspace: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")] | None = None
    username: Annotated[str, Field(min_length=1, max_length=254)] | None = None
    api_token: Secret | None = None
    access_token: Secret | None = None
    name: Name | None = None

    @model_validator(mode="after")
    def one_kind_of_credentials(self) -> BitbucketLink:
        if self.access_token and (self.api_token or self.username):
            raise ValueError("give either `access_token`, or `username` and `api_token`, not both")
        if not self.access_token and not (self.workspace and self.username and self.api_token):
            raise ValueError("`workspace`, `username` and `api_token` are required (or an `access_token`)")
        return self


class GitHubCredentialsLink(BaseModel):
    """GitHub is linked by installing the App (`…/connections/github/authorize`): answered with a clear 422."""

    model_config = ConfigDict(extra="allow")
    provider: Literal["github"]


def _link_models() -> list[type[BaseModel]]:
    """The bodies of `POST …/connections` the declared providers name (`Declaration.link_request`): those of
    providers linked with credentials first, then those that only answer why not (GitHub: install the App)."""
    ordered = sorted((d for d in declared() if d.link_request), key=lambda d: "credentials" not in d.links)
    return [load(d.link_request) for d in ordered if d.link_request]


def _registered(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A body for a provider added at run time (`providers.register`: tests) is validated with the model it declares;
    every other body by the union, as the API document says."""
    provider = value.get("provider") if isinstance(value, dict) else None
    if isinstance(provider, str) and provider not in _IN_UNION:
        declaration = REGISTRY.get(provider)
        if declaration is not None and declaration.link_request:
            return load(declaration.link_request).model_validate(value)
    return handler(value)


_LINK_MODELS = _link_models()
_IN_UNION = frozenset(d.id for d in declared() if d.link_request)
if TYPE_CHECKING:
    LinkRequest = BaseModel
else:  # one body per provider, told apart by `provider` (the OpenAPI document's oneOf and discriminator mapping)
    LinkRequest = Annotated[
        Annotated[reduce(operator.or_, _LINK_MODELS), Field(discriminator="provider")], WrapValidator(_registered)
    ]


class PullRequestRulesIn(Strict):
    enabled: bool = False
    branches: Globs | None = None
    forks: Literal["skip", "build"] = "skip"


class PathRulesIn(Strict):
    include: Globs = []
    exclude: Globs = []


class SourceRulesIn(Strict):
    name: Name | None = None
    branches: Globs | None = None
    pull_requests: PullRequestRulesIn | None = None
    tags: Globs | None = None
    releases: bool | None = None
    paths: PathRulesIn | None = None
    skip_flags: Annotated[list[Annotated[str, Field(min_length=1, max_length=50)]], Field(max_length=20)] | None = None
    poll: bool | None = None
    # Seconds between polls of this source (at least 60, at most a day); null: the deployment's GITCONNECT_POLL_SECONDS.
    poll_seconds: Annotated[int, Field(ge=MIN_POLL_SECONDS, le=MAX_POLL_SECONDS, strict=True)] | None = None


class SourceCreate(SourceRulesIn):
    connection_id: Annotated[str, Field(min_length=1, max_length=64)]
    repository: Annotated[str, Field(min_length=1, max_length=300)] | None = None


class SourcePatch(SourceRulesIn):
    pass


class BuildTriggerIn(Strict):
    """Both left out (or no body): the head of the source's default branch."""

    branch: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    sha: Annotated[str, Field(min_length=7, max_length=64, pattern=r"^[0-9a-fA-F]+$")] | None = None


class BuildStatusIn(Strict):
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    url: Annotated[str, Field(max_length=2048, pattern=r"^https?://")] | None = None
    description: Annotated[str, Field(max_length=500)] | None = None


class RestrictionsIn(Strict):
    mode: Literal["unrestricted", "restricted"]
    namespaces: Annotated[list[Annotated[str, Field(min_length=1, max_length=255)]], Field(max_length=200)] | None = (
        None
    )


class AuthorizeIn(Strict):
    base_url: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    client_id: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    client_secret: Annotated[str, Field(min_length=1, max_length=1024)] | None = None


# ------------------------------------------------------------------ GitOps
Branch = Annotated[str, Field(min_length=1, max_length=255)]
FilePath = Annotated[str, Field(min_length=1, max_length=1024)]
Message = Annotated[str, Field(min_length=1, max_length=2000)]


class GitOpsFetchIn(Strict):
    connection_id: Annotated[str, Field(min_length=1, max_length=64)]
    repository: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    branch: Branch
    path: FilePath


WriteMode = Literal["direct", "pull_request"]


class GitOpsLinkIn(GitOpsFetchIn):
    mode: Literal["create", "link"]
    commit_message: Message | None = None
    # "pull_request": saves commit to gitconnect/<template id> and open (or update) a pull request into `branch`
    write: WriteMode = "direct"


class GitOpsWriteIn(Strict):
    """PATCH of a linked template's write mode alone: `{"gitops": {"write": "direct" | "pull_request"}}`."""

    write: WriteMode


class TriggersIn(Strict):
    connection_id: Annotated[str, Field(min_length=1, max_length=64)]
    repository: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    branches: Globs = []
    pull_requests: bool = False
    paths: PathRulesIn | None = None


class TemplateCreate(Strict):
    name: Name
    kind: Literal["template", "release_flow"] = "template"
    content: dict[str, object] | None = None
    gitops: GitOpsLinkIn | None = None
    run_on_update: bool = False
    concurrency: Literal["allow", "queue", "forbid"] = "allow"
    triggers: TriggersIn | None = None


class TemplatePatch(Strict):
    """Only the fields present change; `gitops: null` turns GitOps off, `triggers: null` removes the triggers."""

    name: Name | None = None
    run_on_update: bool | None = None
    concurrency: Literal["allow", "queue", "forbid"] | None = None
    triggers: TriggersIn | None = None
    gitops: GitOpsLinkIn | GitOpsWriteIn | None = None


CommitSha = Annotated[str, Field(min_length=7, max_length=64, pattern=r"^[0-9a-fA-F]+$")]


class TemplateUpdate(Strict):
    content: dict[str, object]
    base_version: Annotated[int, Field(ge=1)]
    commit_message: Message | None = None
    replaces_commit: CommitSha | None = None  # the invalid file's commit (the 409's `commit_sha`) to commit over


class RunStatusIn(Strict):
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    description: Annotated[str, Field(max_length=500)] | None = None

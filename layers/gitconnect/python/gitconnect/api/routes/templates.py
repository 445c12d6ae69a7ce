"""Templates and release flows, their GitOps link, versions and runs (DESIGN.md §4)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from gitconnect import wiring
from gitconnect.api.auth import authenticate, authorize, bearer_token
from gitconnect.api.outputs import FetchedFile, Proposed, RunList, RunOut, TemplateList, TemplateOut, VersionList
from gitconnect.api.responses import accepted, answers, created, items, no_content
from gitconnect.api.schemas import GitOpsFetchIn, RunStatusIn, TemplateCreate, TemplatePatch, TemplateUpdate

router = APIGatewayHttpRouter()


@router.post(
    "/v1/teams/<team>/gitops/fetch",
    summary="Is there a file at repository+branch+path?",
    tags=["gitops"],
    responses=answers(200, FetchedFile, {422: "The file is not a JSON object, or the provider refused"}),
)
def fetch(team: str, body: Annotated[GitOpsFetchIn, Body()]) -> dict[str, Any]:
    """`{"exists", "content" (the parsed JSON), "sha" (the version read)}`; a file that is not JSON is a 422."""
    authorize(router, team)
    return wiring.templates().fetch(team, body.connection_id, body.repository, body.branch, body.path)


@router.post(
    "/v1/teams/<team>/templates",
    summary="Create a template or release flow",
    tags=["gitops"],
    responses=answers(
        201,
        TemplateOut,
        {
            409: "`gitops.mode: create` and the file exists",
            422: "`gitops.mode: link` and the file is missing or not a JSON object, or the provider refused",
        },
    ),
)
def create(team: str, body: Annotated[TemplateCreate, Body()]) -> Response[dict[str, Any]]:
    """`gitops.mode: "create"` commits the content to a new file (refused if the file exists); `"link"` loads an
    existing file. Without `gitops` the template lives in the app only."""
    principal = authorize(router, team)
    template = wiring.templates().create(team, principal, body.model_dump(exclude_none=True))
    return created(template)


@router.get(
    "/v1/teams/<team>/templates",
    summary="List templates and release flows",
    tags=["gitops"],
    responses=answers(200, TemplateList),
)
def list_templates(team: str) -> dict[str, Any]:
    authorize(router, team)
    return items(wiring.templates().list(team))


@router.get(
    "/v1/teams/<team>/templates/<template_id>",
    summary="Read a template",
    tags=["gitops"],
    responses=answers(200, TemplateOut),
)
def get_template(team: str, template_id: str) -> dict[str, Any]:
    authorize(router, team)
    return wiring.templates().get(team, template_id).to_json()


@router.put(
    "/v1/teams/<team>/templates/<template_id>",
    summary="Save a new version",
    tags=["gitops"],
    responses=answers(
        200,
        TemplateOut,
        {
            409: "`base_version` is not the latest, the file changed in the repository, or the repository holds "
            "an invalid file (the problem shows both sides, or the file's `commit_sha`)",
            422: "The provider refused the commit",
        },
        also={202: ("In pull-request mode: the template unchanged, its pull request opened or updated", Proposed)},
    ),
)
def update(team: str, template_id: str, body: Annotated[TemplateUpdate, Body()]) -> Response[dict[str, Any]]:
    """Commits the content to the linked file; 409 when `base_version` is not the latest (both versions shown), the
    file changed in the repository since the last sync (the repository's content shown), the repository holds an
    invalid file (its `commit_sha` shown: name it in `replaces_commit` to commit over that file), or the branch is
    protected (use `gitops.write: "pull_request"`). In pull-request mode: 202, the template unchanged and the
    `pull_request` opened or updated (`number`, `url`, `branch`, `commit_sha`, `action`)."""
    principal = authorize(router, team)
    service = wiring.templates()
    saved = service.update(
        team,
        principal,
        template_id,
        body.content,
        body.base_version,
        body.commit_message,
        body.replaces_commit,
    )
    if saved.gitops is not None and saved.gitops.write == "pull_request" and saved.version == body.base_version:
        proposed = {**saved.to_json(), "pull_request": saved.gitops.last_pull_request}
        return Response(202, content_type="application/json", body=proposed)
    return Response(200, content_type="application/json", body=saved.to_json())


@router.patch(
    "/v1/teams/<team>/templates/<template_id>",
    summary="Change a template's settings",
    tags=["gitops"],
    responses=answers(
        200,
        TemplateOut,
        {
            409: "GitOps turned on for a template already linked, or the file exists",
            422: "The file is missing or not a JSON object, or the provider refused",
        },
    ),
)
def configure(team: str, template_id: str, body: Annotated[TemplatePatch, Body()]) -> dict[str, Any]:
    """Only the fields present change: `name`, `run_on_update`, `concurrency`, `triggers` (`null` removes them) and
    `gitops` (on with `mode: "create" | "link"` as at creation; off with `null`, the file staying in the repository).
    409 when turning GitOps on for a template already linked."""
    principal = authorize(router, team)
    return wiring.templates().configure(team, principal, template_id, body.model_dump(exclude_unset=True)).to_json()


@router.delete(
    "/v1/teams/<team>/templates/<template_id>",
    summary="Delete a template",
    tags=["gitops"],
    responses=answers(204, None),
)
def delete(team: str, template_id: str) -> Response[None]:
    """The file in the repository stays."""
    authorize(router, team)
    wiring.templates().delete(team, template_id)
    return no_content()


@router.get(
    "/v1/teams/<team>/templates/<template_id>/versions",
    summary="Version history",
    tags=["gitops"],
    responses=answers(200, VersionList),
)
def versions(team: str, template_id: str) -> dict[str, Any]:
    authorize(router, team)
    return items(wiring.templates().versions(team, template_id))


@router.get(
    "/v1/teams/<team>/templates/<template_id>/runs",
    summary="Runs, newest first",
    tags=["gitops"],
    responses=answers(200, RunList),
)
def list_runs(team: str, template_id: str) -> dict[str, Any]:
    authorize(router, team)
    template = wiring.templates().get(team, template_id)
    return items(wiring.runs().list(template.id))


@router.post(
    "/v1/teams/<team>/templates/<template_id>/runs",
    summary="Run the latest version",
    tags=["gitops"],
    responses=answers(202, RunOut, {409: "The template forbids concurrent runs and one is in progress"}),
)
def run(team: str, template_id: str) -> Response[dict[str, Any]]:
    """Under `forbid`, 409 while a run is in progress; under `queue`, the run waits its turn."""
    principal = authorize(router, team)
    template = wiring.templates().get(team, template_id)
    started = wiring.runs().request(template, f"requested by {principal.user_id}", manual=True)
    return accepted(started)


@router.post(
    "/v1/runs/<run_id>/status",
    summary="Report a run's status (runner callback)",
    tags=["gitops"],
    responses=answers(200, RunOut, {409: "The run already has a final status"}),
)
def report_run(run_id: str, body: Annotated[RunStatusIn, Body()]) -> dict[str, Any]:
    """Authenticated by the run's own callback token (from RunRequested) or by a team token."""
    service = wiring.runs()
    found = service.run_for_report(run_id, bearer_token(router), lambda: authenticate(router))
    return service.report(found, body.status, body.description).to_json()

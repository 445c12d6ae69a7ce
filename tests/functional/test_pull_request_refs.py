"""Every pull request build names a `ref` that exists where its `clone_url` points, as each provider serves it
(DESIGN.md §4): the providers' real payloads, normalized and decided as the router does, then fetched with the git CLI
from a real git http-backend laid out as the provider lays out its repositories."""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

from gitconnect.domain.events import PullRequestEvent
from gitconnect.domain.matching import decide_pull_request
from gitconnect.domain.models import PullRequestRules, Source
from gitconnect.providers.bitbucket import webhooks as bitbucket
from gitconnect.providers.github import webhooks as github
from gitconnect.providers.gitlab import webhooks as gitlab
from gitconnect.services.router import requested_build
from infra.local.git_server import GitHttpServer, WorkingCopy, git, init_bare
from tests.functional.github_support import example
from tests.support.bitbucket_fixtures import payload as bitbucket_payload

GITLAB_MR = Path(__file__).resolve().parents[1] / "fixtures" / "gitlab" / "merge-request-hook.json"


def source(provider: str, clone_url: str) -> Source:
    return Source(team_id="t1", id="src_1", name="app", connection_id="con_1", provider=provider,
                  repository="acme/app", clone_url=clone_url, branches=("main",), created_at="t", updated_at="t",
                  pull_requests=PullRequestRules(enabled=True, forks="build"))


def repository(server: GitHttpServer, tmp_path: Path, name: str) -> tuple[str, WorkingCopy]:
    """A bare repository with one commit on main, and a working copy of it."""
    init_bare(server.root, name)
    url = server.url_for(name)
    work = WorkingCopy.clone(url, tmp_path / name.replace("/", "-"))
    work.write("README.md", "hello\n")
    work.commit("first")
    work.push("main")
    return url, work


def pull_request_commit(work: WorkingCopy, branch: str) -> str:
    work.checkout_new(branch)
    work.write("feature.txt", f"{uuid.uuid4()}\n")
    return work.commit("the pull request's change")


def fetched(clone_url: str, ref: str, tmp_path: Path) -> str:
    """What a builder gets: `git fetch <clone_url> <ref>` into an empty repository."""
    builder = tmp_path / f"builder-{uuid.uuid4().hex[:6]}"
    git("init", "--quiet", str(builder))
    git("fetch", "--quiet", clone_url, ref, cwd=builder)
    return git("rev-parse", "FETCH_HEAD", cwd=builder)


def built(provider: str, clone_url: str, event: object) -> tuple[str, str, str]:
    assert isinstance(event, PullRequestEvent)
    decision = decide_pull_request(source(provider, clone_url), event)
    assert decision.build, decision.reason
    build = requested_build(source(provider, clone_url), decision, event)
    return build.clone_url, build.ref, build.sha


def test_github_builds_fetch_the_pull_ref_of_the_base_repository(git_server: GitHttpServer, tmp_path: Path) -> None:
    # Given a repository where GitHub keeps refs/pull/<n>/head for an open pull request (forks' too)
    url, work = repository(git_server, tmp_path, f"gh-{uuid.uuid4().hex[:6]}")
    head = pull_request_commit(work, "feature")
    pr = example("pull_request", action="opened")
    number = pr["pull_request"]["number"]
    work.git("push", "--quiet", "origin", f"HEAD:refs/pull/{number}/head")
    pr["pull_request"]["head"]["sha"] = head
    pr["pull_request"]["base"]["ref"] = "main"
    # When its delivery is decided
    clone_url, ref, sha = built("github", url, github.normalize("pull_request", pr))
    # Then the build names that ref in the base repository, and fetching it gives the pull request's head
    assert (clone_url, ref, sha) == (url, f"refs/pull/{number}/head", head)
    assert fetched(clone_url, ref, tmp_path) == head


def test_gitlab_builds_fetch_the_merge_request_ref_of_the_target_project(git_server: GitHttpServer,
                                                                         tmp_path: Path) -> None:
    # Given a project where GitLab keeps refs/merge-requests/<iid>/head (also for merge requests from forks)
    url, work = repository(git_server, tmp_path, f"gl-{uuid.uuid4().hex[:6]}")
    head = pull_request_commit(work, "ms-viewport")
    mr = json.loads(GITLAB_MR.read_text())
    iid = mr["object_attributes"]["iid"]
    work.git("push", "--quiet", "origin", f"HEAD:refs/merge-requests/{iid}/head")
    mr["object_attributes"]["last_commit"]["id"] = head
    mr["object_attributes"]["target_branch"] = "main"
    for fork in (False, True):
        if fork:
            mr["object_attributes"]["source_project_id"] = 99  # from a fork: the ref is still in the target project
        # When its delivery is decided
        clone_url, ref, sha = built("gitlab", url, gitlab.normalize("Merge Request Hook", copy.deepcopy(mr)))
        # Then the build names the merge request ref (never refs/pull/…), which the target project serves
        assert (clone_url, ref, sha) == (url, f"refs/merge-requests/{iid}/head", head)
        assert fetched(clone_url, ref, tmp_path) == head


def test_bitbucket_builds_fetch_the_source_branch_from_the_fork(git_server: GitHttpServer, tmp_path: Path) -> None:
    # Given an upstream repository and a fork of it (Bitbucket Cloud has no pull request refs)
    name = uuid.uuid4().hex[:6]
    upstream_url, upstream = repository(git_server, tmp_path, f"acme/app-{name}")
    fork_url, fork = repository(git_server, tmp_path, f"mallory/app-{name}")
    same_repo_head = pull_request_commit(upstream, "branch2")
    upstream.git("push", "--quiet", "origin", "branch2")
    fork_head = pull_request_commit(fork, "branch2")
    fork.git("push", "--quiet", "origin", "branch2")

    def delivery(head: str, source_url: str, source_uuid: str) -> Any:
        pr = bitbucket_payload("pull-request-created")
        pr["pullrequest"]["source"]["commit"]["hash"] = head
        pr["pullrequest"]["destination"]["branch"]["name"] = "main"
        side = pr["pullrequest"]["source"]["repository"]
        # Bitbucket's repository links: the web page, whose `.git` is the clone URL
        side.update({"uuid": source_uuid, "links": {"html": {"href": source_url.removesuffix(".git")}}})
        pr["pullrequest"]["destination"]["repository"]["uuid"] = "{upstream}"
        return bitbucket.normalize("pullrequest:created", pr)

    # A pull request from a branch of the repository itself: that branch, from the repository the source watches
    clone_url, ref, sha = built("bitbucket", upstream_url, delivery(same_repo_head, upstream_url, "{upstream}"))
    assert (clone_url, ref, sha) == (upstream_url, "refs/heads/branch2", same_repo_head)
    assert fetched(clone_url, ref, tmp_path) == same_repo_head
    # From a fork: the fork's branch, from the fork's clone URL (the upstream has no such commit)
    clone_url, ref, sha = built("bitbucket", upstream_url, delivery(fork_head, fork_url, "{fork}"))
    assert (clone_url, ref, sha) == (fork_url, "refs/heads/branch2", fork_head)
    assert fetched(clone_url, ref, tmp_path) == fork_head

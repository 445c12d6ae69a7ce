"""What each provider documents at the keys its normalizer reads: path -> the JSON types a valid delivery may carry
there (`null` where the key is optional or nullable). Shared by the unit tests of the normalizers and the poison
test (tests/fuzz): a value of another type must be rejected as malformed, one of these types may be valid."""

from __future__ import annotations

from tests.support.payload_mutation import BOOLEAN, ID, INTEGER, OBJECT, STRING, optional, types

Shape = dict[str, frozenset[str]]

ANY = types("null", "array", "integer", "number", "boolean", "string", "object")  # tolerated whatever it is
ARRAY_OR_NULL = optional(types("array"))

# ------------------------------------------------------------------------------------------------------- GitHub
GITHUB_REPOSITORY = {
    "installation": optional(OBJECT), "installation.id": INTEGER,
    "repository": OBJECT, "repository.id": ID, "repository.full_name": STRING,
    "repository.owner": optional(OBJECT), "repository.owner.login": optional(STRING),
    "repository.clone_url": optional(STRING), "repository.html_url": optional(STRING),
    "repository.default_branch": optional(STRING), "repository.private": optional(BOOLEAN),
}
GITHUB_COMMIT = {
    "id": STRING, "message": STRING, "added": ARRAY_OR_NULL, "modified": ARRAY_OR_NULL, "removed": ARRAY_OR_NULL,
    "added[0]": STRING, "modified[0]": STRING, "removed[0]": STRING,
}
GITHUB_PUSH = {
    **GITHUB_REPOSITORY, "ref": STRING, "before": STRING, "after": STRING, "created": BOOLEAN, "deleted": BOOLEAN,
    "commits": types("array"), "commits[0]": OBJECT, **{f"commits[0].{k}": v for k, v in GITHUB_COMMIT.items()},
    "head_commit": optional(OBJECT), "head_commit.message": STRING,
}
GITHUB_PULL_REQUEST = {
    **GITHUB_REPOSITORY, "action": STRING, "number": optional(INTEGER), "pull_request": OBJECT,
    "pull_request.number": optional(INTEGER), "pull_request.title": optional(STRING),
    "pull_request.head": OBJECT, "pull_request.head.sha": STRING, "pull_request.head.ref": STRING,
    "pull_request.head.repo": optional(OBJECT), "pull_request.head.repo.id": ID,
    "pull_request.base": OBJECT, "pull_request.base.ref": STRING,
    "pull_request.base.repo": optional(OBJECT), "pull_request.base.repo.id": ID,
}
GITHUB_LISTED = {"id": ID, "full_name": STRING, "private": optional(BOOLEAN)}
GITHUB_INSTALLATION = {
    "installation": OBJECT, "installation.id": INTEGER, "action": STRING,
    "installation.account": optional(OBJECT), "installation.account.login": optional(STRING),
}


def github_listed(key: str) -> Shape:
    return {key: ARRAY_OR_NULL, f"{key}[0]": OBJECT, **{f"{key}[0].{k}": v for k, v in GITHUB_LISTED.items()}}


GITHUB_INSTALLED = {**GITHUB_INSTALLATION, **github_listed("repositories")}
GITHUB_REPOSITORIES_CHANGED = {
    **GITHUB_INSTALLATION, **github_listed("repositories_added"), **github_listed("repositories_removed")}
GITHUB_CREATE = {**GITHUB_REPOSITORY, "ref_type": STRING, "ref": STRING}
GITHUB_DELETE = {**GITHUB_REPOSITORY, "ref_type": optional(STRING)}
GITHUB_RELEASE = {**GITHUB_REPOSITORY, "action": STRING, "release": OBJECT, "release.tag_name": STRING}


# ------------------------------------------------------------------------------------------------------- GitLab
def gitlab_project(at: str) -> Shape:
    """A project object (null or absent, or without a path: not named)."""
    return {
        at: optional(OBJECT), f"{at}.id": optional(ID), f"{at}.path_with_namespace": optional(STRING),
        f"{at}.git_http_url": optional(STRING), f"{at}.http_url": optional(STRING), f"{at}.web_url": optional(STRING),
        f"{at}.default_branch": optional(STRING), f"{at}.visibility_level": optional(INTEGER),
    }


GITLAB_PROJECT = {**gitlab_project("project"), "project_id": optional(ID)}
GITLAB_PUSH = {
    **GITLAB_PROJECT, "ref": STRING, "before": STRING, "after": STRING, "checkout_sha": optional(STRING),
    "commits": ARRAY_OR_NULL, "total_commits_count": optional(INTEGER), "commits[0]": OBJECT,
    "commits[0].id": STRING, "commits[0].message": optional(STRING), "commits[0].added": ARRAY_OR_NULL,
    "commits[0].modified": ARRAY_OR_NULL, "commits[0].removed": ARRAY_OR_NULL, "commits[0].added[0]": STRING,
    "commits[0].modified[0]": STRING,
}
GITLAB_MERGE_REQUEST = {
    **GITLAB_PROJECT, "object_attributes": optional(OBJECT), **gitlab_project("object_attributes.target"),
    "object_attributes.target_project_id": optional(ID), "object_attributes.source_project_id": optional(ID),
    "object_attributes.last_commit": optional(OBJECT), "object_attributes.last_commit.id": STRING,
    "object_attributes.iid": optional(INTEGER), "object_attributes.action": optional(STRING),
    "object_attributes.oldrev": optional(STRING), "object_attributes.source_branch": STRING,
    "object_attributes.target_branch": STRING, "object_attributes.title": optional(STRING),
}
GITLAB_RELEASE = {
    **GITLAB_PROJECT, "tag": STRING, "action": optional(STRING), "commit": optional(OBJECT),
    "commit.id": optional(STRING),
}


# ---------------------------------------------------------------------------------------------------- Bitbucket
def bitbucket_repo(at: str) -> Shape:
    """A repository object (null or absent: not named)."""
    return {
        at: optional(OBJECT), f"{at}.uuid": ID, f"{at}.full_name": STRING, f"{at}.links": optional(OBJECT),
        f"{at}.links.html": optional(OBJECT), f"{at}.links.html.href": optional(STRING),
        f"{at}.is_private": optional(BOOLEAN),
    }


BITBUCKET_REPOSITORY = bitbucket_repo("repository")
BITBUCKET_SIDE = {"": optional(OBJECT), ".type": STRING, ".name": STRING, ".target": OBJECT, ".target.hash": STRING}
BITBUCKET_PUSH = {
    **BITBUCKET_REPOSITORY,
    "push": ANY,  # a push that is not an object is ignored (tests/unit/test_bitbucket_webhooks.py)
    "push.changes": ARRAY_OR_NULL,
    "push.changes[0]": ANY,  # so is a change that is not an object
    **{f"push.changes[0].{side}{k}": v for side in ("old", "new") for k, v in BITBUCKET_SIDE.items()},
    "push.changes[0].new.target.message": optional(STRING),
    "push.changes[0].commits": ARRAY_OR_NULL, "push.changes[0].commits[0]": OBJECT,
    "push.changes[0].commits[0].hash": STRING, "push.changes[0].commits[0].message": optional(STRING),
    "push.changes[0].truncated": optional(BOOLEAN),
}
BITBUCKET_PULL_REQUEST = {
    **BITBUCKET_REPOSITORY, "pullrequest": optional(OBJECT), "pullrequest.id": INTEGER,
    "pullrequest.title": optional(STRING), "pullrequest.source": OBJECT, "pullrequest.source.commit": OBJECT,
    "pullrequest.source.commit.hash": STRING, "pullrequest.source.branch": OBJECT,
    "pullrequest.source.branch.name": STRING, **bitbucket_repo("pullrequest.source.repository"),
    "pullrequest.destination": OBJECT, "pullrequest.destination.branch": OBJECT,
    "pullrequest.destination.branch.name": STRING,
    **bitbucket_repo("pullrequest.destination.repository"),
}

"""Every real Bitbucket Cloud payload (`../shared/fixtures/bitbucket-cloud/`), signed at test time with the hook's
own secret and sent with Bitbucket's headers through the real intake and router on a webhook gitconnect registered:
as Bitbucket sent them (about another repository: each is explained, none builds), and re-addressed to the watched
repository (the pushes and pull requests build; the rest is ignored cleanly). Never a 5xx, never a poison message."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from gitconnect.providers.bitbucket.webhooks import signature
from tests.functional.test_bitbucket_flow import admin, bb, deliveries, linked  # noqa: F401 - its fixtures, reused
from tests.support.bitbucket_fixtures import EVENT_KEYS, fixture_names, payload, raw
from tests.support.fake_bitbucket import FakeBitbucket
from tests.support.inprocess import System


def _readdressed(name: str, uuid: str) -> bytes:
    body = payload(name)
    repos = [body.get("repository")]
    pr = body.get("pullrequest")
    if isinstance(pr, dict):
        repos += [pr["source"]["repository"], pr["destination"]["repository"]]
    for repo in repos:
        if isinstance(repo, dict):
            repo.update({"uuid": uuid, "full_name": "acme/app", "name": "app"})
    for change in (body.get("push") or {}).get("changes") or ():
        for side in ("old", "new"):
            if change.get(side):
                change[side]["name"] = "main"
    if isinstance(pr, dict):
        pr["destination"]["branch"]["name"] = "main"
    return json.dumps(body).encode()


def test_every_fixture_through_intake_and_router(bb: tuple[System, FakeBitbucket, dict],  # noqa: F811
                                                 admin: str, linked: dict) -> None:  # noqa: F811
    system, fake, world = bb
    app = world["app"]
    (hook,) = app.hooks.values()
    path = urlsplit(hook.url).path
    names = fixture_names()
    # Short hashes of the pull request fixtures resolve to a commit Bitbucket knows
    fake.add_commit(app, "d3022fc0ca3d" + "0" * 28, parents=[app.branches["main"]])
    sent = []
    for round_, body_of in (("as-sent", lambda n: raw(n)), ("ours", lambda n: _readdressed(n, app.uuid))):
        for name in names:
            body = body_of(name)
            delivery = f"{round_}-{name}"
            headers = {"x-event-key": EVENT_KEYS[name], "x-request-uuid": delivery, "x-attempt-number": "1",
                       "x-hook-uuid": hook.uuid.strip("{}"), "x-hub-signature": signature(hook.secret, body),
                       "content-type": "application/json", "user-agent": "Bitbucket-Webhooks/2.0"}
            sent.append((delivery, system.call("POST", path, raw_body=body, headers=headers).status))
    assert {status for _, status in sent} == {202}, sent
    results = system.drain("EventRouterFunction", rounds=20)
    assert sum(r.received for r in results) == len(sent)
    assert all(not r.failed_ids and r.error is None for r in results)
    assert system.queue_depth("EventsDLQ") == 0
    system.drain("BuildTriggerFunction")
    log = deliveries(system, admin)
    assert all(log[delivery]["reason"] for delivery, _ in sent), log
    assert all(not log[f"as-sent-{n}"]["build_ids"] for n in names)
    built = {n for n in names if log[f"ours-{n}"]["build_ids"]}
    # the push (its one change, now on main) and the pull request events that may build (created, updated)
    assert built == {"repo-push", "pull-request-created", "pull-request-updated"}, {
        n: log[f"ours-{n}"]["reason"] for n in names}

from __future__ import annotations

from tests.support.inprocess import System


def test_health(system: System) -> None:
    reply = system.call("GET", "/v1/health")
    assert (reply.status, reply.json()) == (200, {"status": "ok"})


def test_openapi_describes_every_route_of_the_template(system: System) -> None:
    doc = system.call("GET", "/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.") and doc["info"]["title"] == "gitconnect"
    paths = doc["paths"]
    expected = {
        ("post", "/v1/teams/{team}/connections"), ("get", "/v1/teams/{team}/connections"),
        ("get", "/v1/teams/{team}/connections/{connection_id}"),
        ("delete", "/v1/teams/{team}/connections/{connection_id}"),
        ("get", "/v1/teams/{team}/connections/{connection_id}/branches"),
        ("get", "/v1/teams/{team}/connections/{connection_id}/repositories"),
        ("get", "/v1/teams/{team}/connections/{connection_id}/namespaces"),
        ("post", "/v1/teams/{team}/sources"), ("get", "/v1/teams/{team}/sources"),
        ("get", "/v1/teams/{team}/sources/{source_id}"), ("patch", "/v1/teams/{team}/sources/{source_id}"),
        ("delete", "/v1/teams/{team}/sources/{source_id}"), ("post", "/v1/teams/{team}/sources/{source_id}/builds"),
        ("get", "/v1/teams/{team}/builds"), ("get", "/v1/teams/{team}/builds/{build_id}"),
        ("post", "/v1/builds/{build_id}/status"), ("get", "/v1/teams/{team}/deliveries"),
        ("get", "/v1/health"), ("get", "/v1/openapi.json"), ("get", "/v1/docs"),
        ("post", "/v1/teams/{team}/connections/{provider}/authorize"),
        ("put", "/v1/teams/{team}/connections/{connection_id}/restrictions"),
        ("get", "/v1/oauth/{provider}/callback"), ("post", "/v1/webhooks/github"),
        ("post", "/v1/webhooks/gitlab/{hook_id}"),
        ("post", "/v1/teams/{team}/connections/{connection_id}/webhooks/regenerate"),
    }
    documented = {(method, path) for path, ops in paths.items() for method in ops}
    assert expected <= documented
    # Every documented operation is reachable through a route of template.yaml
    for method, path in documented:
        concrete = path.replace("{team}", "t").replace("{connection_id}", "c").replace("{source_id}", "s")
        concrete = concrete.replace("{build_id}", "b").replace("{provider}", "github").replace("{hook_id}", "h")
        reply = system.call(method.upper(), concrete)
        assert reply.status != 404 or reply.headers.get("content-type") == "application/problem+json", path
    link_body = paths["/v1/teams/{team}/connections"]["post"]["requestBody"]["content"]["application/json"]
    assert link_body["schema"]


def test_docs_page_lists_the_api(system: System) -> None:
    reply = system.call("GET", "/v1/docs")
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/html")
    page = reply.body.decode()
    assert "/v1/teams/{team}/sources/{source_id}/builds" in page and "/v1/openapi.json" in page


def test_unknown_route_is_a_problem(system: System) -> None:
    reply = system.call("GET", "/v1/teams/t/nothing-here", token=system.token({"t": "admin"}))
    assert reply.status == 404 and reply.headers["content-type"] == "application/problem+json"

"""No PublicUrl (no custom domain): the functions that build URLs read the API's own URL from the SSM parameter the
stack writes (PublicUrlParameter), once per container; a PublicUrl given wins."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from gitconnect import wiring

PARAMETER = "/gitconnect-test/public-url"
API_URL = "https://abc123.execute-api.eu-west-1.amazonaws.com"


@pytest.fixture
def ssm(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    for name, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "GITCONNECT_PUBLIC_URL_PARAMETER": PARAMETER}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("ssm", region_name="eu-west-1")
        client.put_parameter(Name=PARAMETER, Type="String", Value=API_URL)
        wiring.reset()
        yield client
    wiring.reset()


def test_an_empty_public_url_is_the_apis_own_url(ssm: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITCONNECT_PUBLIC_URL", "")
    wiring.reset()
    assert wiring.public_url() == API_URL
    assert wiring.provider_config("bitbucket")["GITCONNECT_PUBLIC_URL"] == API_URL  # its statuses link here


def test_a_public_url_given_wins(ssm: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITCONNECT_PUBLIC_URL", "https://git.example.com")
    wiring.reset()
    assert wiring.public_url() == "https://git.example.com"

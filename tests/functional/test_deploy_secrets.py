"""`make secrets` (infra/deploy/secrets.py) against moto's Secrets Manager: fills ProviderSecrets from a file or the
environment, keeps what it is not given, refuses unknown names, and never prints a value."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.deploy import secrets

CANARY = "canary-secret-value-8d1c"


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="eu-west-1")
        document = json.dumps({"GITLAB_CLIENT_SECRET": "kept"})
        arn = client.create_secret(Name="ProviderSecrets", SecretString=document)["ARN"]
        yield client, arn


def stored(client: Any, arn: str) -> dict[str, str]:
    return dict(json.loads(client.get_secret_value(SecretId=arn)["SecretString"]))


def test_a_file_fills_the_secret_and_nothing_is_printed(secret: tuple[Any, str], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    client, arn = secret
    file = tmp_path / "secrets.json"
    file.write_text(json.dumps({"GITHUB_WEBHOOK_SECRET": CANARY, "GITHUB_APP_PRIVATE_KEY": CANARY + "-key"}))
    assert secrets.main(["--file", str(file)], environ={"GITCONNECT_PROVIDER_SECRETS_ARN": arn}) == 0
    assert stored(client, arn) == {"GITHUB_WEBHOOK_SECRET": CANARY, "GITHUB_APP_PRIVATE_KEY": CANARY + "-key",
                                   "GITLAB_CLIENT_SECRET": "kept"}
    out = capsys.readouterr()
    assert CANARY not in out.out + out.err
    assert "GITHUB_WEBHOOK_SECRET" in out.out


def test_the_environment_fills_the_secret_when_no_file(secret: tuple[Any, str], monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client, arn = secret
    monkeypatch.setattr(secrets, "ROOT", tmp_path)  # no .secrets.json there
    environ = {"GITCONNECT_PROVIDER_SECRETS_ARN": arn, "BITBUCKET_CLIENT_SECRET": CANARY, "UNRELATED": "x"}
    assert secrets.main([], environ=environ) == 0
    assert stored(client, arn) == {"BITBUCKET_CLIENT_SECRET": CANARY, "GITLAB_CLIENT_SECRET": "kept"}
    assert CANARY not in capsys.readouterr().out


def test_unknown_names_are_refused_and_nothing_is_stored(secret: tuple[Any, str], tmp_path: Path) -> None:
    client, arn = secret
    file = tmp_path / "secrets.json"
    file.write_text(json.dumps({"GITHUB_WEBHOK_SECRET": CANARY}))
    with pytest.raises(SystemExit, match="not a provider secret: GITHUB_WEBHOK_SECRET"):
        secrets.main(["--file", str(file)], environ={"GITCONNECT_PROVIDER_SECRETS_ARN": arn})
    assert stored(client, arn) == {"GITLAB_CLIENT_SECRET": "kept"}


def test_the_secret_is_found_from_the_stack_output(secret: tuple[Any, str]) -> None:
    class Outputs:
        def client(self, name: str) -> Any:
            assert name == "cloudformation"
            return self

        def describe_stacks(self, StackName: str) -> dict[str, Any]:  # boto3's argument name
            output = {"OutputKey": "ProviderSecretsArn", "OutputValue": f"arn-of-{StackName}"}
            return {"Stacks": [{"Outputs": [output]}]}

    assert secrets.secret_arn(Outputs(), "gitconnect", {}) == "arn-of-gitconnect"
    assert secrets.secret_names() == ("GITHUB_APP_PRIVATE_KEY", "GITHUB_CLIENT_SECRET", "GITHUB_WEBHOOK_SECRET",
                                      "GITHUB_WEBHOOK_SECRET_PREVIOUS", "GITLAB_CLIENT_SECRET",
                                      "BITBUCKET_CLIENT_SECRET")

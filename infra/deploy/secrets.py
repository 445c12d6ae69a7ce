"""`make secrets`: fill the stack's ProviderSecrets (one JSON document) from a local file or the environment, without
printing a value.

    make secrets                         # .secrets.json if it exists, else the environment
    make secrets SECRETS_FILE=path.json  # {"GITHUB_APP_PRIVATE_KEY": "-----BEGIN ...", "GITHUB_WEBHOOK_SECRET": ...}

The names are the providers' declared secrets (providers/*/__init__.py); a file naming anything else is refused (a typo
would otherwise be stored and never read). Names given replace the stored ones, names not given are kept. The secret
is the stack's ProviderSecretsArn output (`--stack`, default samconfig's stack_name), or
GITCONNECT_PROVIDER_SECRETS_ARN.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gitconnect.providers import REGISTRY

ROOT = Path(__file__).resolve().parents[2]


def secret_names() -> tuple[str, ...]:
    names: list[str] = []
    for declaration in REGISTRY.values():
        names += declaration.secrets
        if declaration.webhook is not None:
            names += declaration.webhook.secrets
    return tuple(dict.fromkeys(names))


def given(file: Path | None, environ: Mapping[str, str]) -> dict[str, str]:
    """The secrets to store: the file's (all of them checked), else the environment's variables of those names."""
    names = secret_names()
    if file is not None:
        document = json.loads(file.read_text())
        if not isinstance(document, dict) or not all(isinstance(v, str) for v in document.values()):
            raise SystemExit(f"{file}: a JSON object of strings is expected")
        unknown = sorted(set(document) - set(names))
        if unknown:
            raise SystemExit(f"{file}: not a provider secret: {', '.join(unknown)} (known: {', '.join(names)})")
        return {k: v for k, v in document.items() if v}
    return {name: environ[name] for name in names if environ.get(name)}


def stack_name() -> str:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    return str(config.get("default", {}).get("global", {}).get("parameters", {}).get("stack_name", "gitconnect"))


def secret_arn(session: Any, stack: str | None, environ: Mapping[str, str]) -> str:
    if environ.get("GITCONNECT_PROVIDER_SECRETS_ARN"):
        return environ["GITCONNECT_PROVIDER_SECRETS_ARN"]
    stack = stack or stack_name()
    outputs = session.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    for output in outputs:
        if output["OutputKey"] == "ProviderSecretsArn":
            return str(output["OutputValue"])
    raise SystemExit(f"stack {stack} has no ProviderSecretsArn output: deploy it first (make deploy)")


def store(session: Any, arn: str, secrets: Mapping[str, str]) -> list[str]:
    """Merge `secrets` into the stored document; the names now stored."""
    client = session.client("secretsmanager")
    current = client.get_secret_value(SecretId=arn).get("SecretString") or "{}"
    merged = {**json.loads(current), **secrets}
    client.put_secret_value(SecretId=arn, SecretString=json.dumps(merged))
    return sorted(merged)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> int:
    parser = argparse.ArgumentParser(prog="make secrets", description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, help="a JSON object of secrets (default: .secrets.json if it exists)")
    parser.add_argument("--stack", default=None, help="the stack's name (default: samconfig.toml's stack_name)")
    args = parser.parse_args(argv)
    file = args.file or (ROOT / ".secrets.json" if (ROOT / ".secrets.json").exists() else None)
    secrets = given(file, environ)
    if not secrets:
        where = file or "the environment"
        print(f"no provider secret in {where}: set some of {', '.join(secret_names())}", file=sys.stderr)
        return 2
    import boto3

    session = boto3.session.Session()
    stored = store(session, secret_arn(session, args.stack, environ), secrets)
    print(f"set {', '.join(sorted(secrets))}; ProviderSecrets now holds {', '.join(stored)}")
    print("the functions read it within five minutes (they cache it that long)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""What a hot-path module imports, seen by a fresh interpreter (a subprocess: the test process has imported
everything already)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_webhooks_module_imports_little() -> None:
    """The intake imports it on the hot path: no API client, no HTTP library, no AWS."""
    code = (
        "import sys, gitconnect.providers.gitlab.webhooks\n"
        "print('\\n'.join(sorted(sys.modules)))"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(root / "layers/gitconnect/python")})
    loaded = set(result.stdout.split())
    assert not {"requests", "urllib3", "boto3", "botocore", "pynamodb"} & loaded
    assert not {m for m in loaded if m.startswith("gitconnect.") and m.split(".")[1] not in ("domain", "providers")}
    assert not {"gitconnect.providers.gitlab.api", "gitconnect.providers.gitlab.provider",
                "gitconnect.providers.gitlab.oauth"} & loaded


def test_the_webhook_intake_imports_no_api_models() -> None:
    """The OpenAPI document's pydantic models (gitconnect.api.outputs) and the API's resolver are for the API
    functions: the intake's cold start (bench figure 5.2) loads neither, nor pydantic or Powertools' event handler."""
    code = "import sys, functions.webhook_intake.app\nprint('\\n'.join(sorted(sys.modules)))"
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": f"{root}:{root / 'layers/gitconnect/python'}"})
    loaded = set(result.stdout.split())
    assert "functions.webhook_intake.app" in loaded  # the probe imported what it measures
    api_side = ("gitconnect.api", "pydantic", "aws_lambda_powertools.event_handler")
    assert not {m for m in loaded if m.startswith(api_side)}

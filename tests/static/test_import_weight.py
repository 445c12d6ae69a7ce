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

"""`sam build` installs the Deps layer from its lock: the built layer holds exactly the locked versions, built for
Lambda's arm64 (a lock that did not pin botocore once let the layer carry whatever botocore was newest)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.locks import LAYER_LOCK, ROOT, installed, pins

ELF_MACHINE_AARCH64 = 183


@pytest.mark.slow
def test_the_built_deps_layer_is_the_lock(tmp_path: Path) -> None:
    sam = os.environ.get("GITCONNECT_SAM") or str(ROOT / ".tools/sam/bin/sam")
    if not Path(sam).exists():
        pytest.fail(f"SAM CLI not found at {sam}: run the tests with `make test`, which installs it")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PYENV_VERSION": os.environ.get("PYENV_VERSION", "3.11.7:3.13.0")}
    result = subprocess.run([sam, "build", "DepsLayer", "--build-dir", str(tmp_path / "build"), "--no-cached"],
                            cwd=ROOT, capture_output=True, text=True, check=False, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    site = tmp_path / "build/DepsLayer/python"
    built, locked = installed(site), pins(LAYER_LOCK)
    assert built == locked, {p: (locked.get(p), built.get(p)) for p in set(built) | set(locked)
                             if built.get(p) != locked.get(p)}
    extensions = list(site.rglob("*.so"))
    assert extensions, "no compiled extension in the layer (cryptography, pydantic-core ship some)"
    for so in extensions:
        machine = int.from_bytes(so.read_bytes()[18:20], "little")  # ELF e_machine
        assert machine == ELF_MACHINE_AARCH64, f"{so.relative_to(site)} is not built for arm64"

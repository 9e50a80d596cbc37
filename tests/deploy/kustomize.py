"""The objects a kustomization renders to, as ``kubectl kustomize`` builds them (for test_k8s and test_tiltfile)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

KUBECTL = shutil.which("kubectl")


def kustomize(folder: Path) -> list[dict[str, Any]]:
    """``kubectl kustomize <folder>``, parsed; the callers skip where kubectl is missing."""
    import yaml  # the callers importorskip it

    assert KUBECTL is not None, "kubectl is not installed"
    result = subprocess.run([KUBECTL, "kustomize", str(folder)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

"""Tiltfile: builds the one image and deploys the dev overlay with live updates (checked without Tilt).

Starlark reads as Python, so the Tiltfile is run here against stand-ins for Tilt's functions
that record each call; the recorded build, syncs and resources are then checked against the
Dockerfile, the source tree and the objects the dev overlay renders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.kustomize import KUBECTL, kustomize

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed, so the overlay is not rendered")


class _Tilt:
    """Tilt's API as far as the Tiltfile uses it, recording every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def recorder(self, name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
            call = (name, args, kwargs)
            self.calls.append(call)
            return call

        return record

    def named(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(args, kwargs) for call, args, kwargs in self.calls if call == name]


@pytest.fixture(scope="module")
def tilt(repo: Path) -> _Tilt:
    tilt = _Tilt()
    names = ["docker_build_with_restart", "k8s_yaml", "kustomize", "k8s_resource", "sync", "fall_back_on", "run"]
    scope: dict[str, Any] = {name: tilt.recorder(name) for name in names}
    scope["load"] = lambda *args: None
    exec(compile((repo / "Tiltfile").read_text(), "Tiltfile", "exec"), scope)
    return tilt


def test_builds_the_dev_stage_of_the_one_dockerfile(tilt: _Tilt, repo: Path) -> None:
    ((args, build),) = tilt.named("docker_build_with_restart")
    assert args[0] == "ferry"
    dockerfile = (repo / build["dockerfile"]).read_text()
    assert build["dockerfile"] == "deploy/docker/Dockerfile"
    assert f" AS {build['target']}\n" in dockerfile
    assert build["entrypoint"] == ["ferry"]
    for path in build["only"]:
        assert (repo / path).exists(), path


def test_live_update_syncs_every_package_into_the_image_venv(tilt: _Tilt, repo: Path) -> None:
    ((_, build),) = tilt.named("docker_build_with_restart")
    dockerfile = (repo / "deploy/docker/Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in dockerfile and "python -m venv /opt/ferry" in dockerfile
    steps = build["live_update"]
    assert steps[0][0] == "fall_back_on"  # rebuilds first, syncs after
    for path in steps[0][1][0]:
        assert (repo / path).is_file(), path
    syncs = {args[0]: args[1] for name, args, _ in steps if name == "sync"}
    # What the Dockerfile installs: ferry-core and every service (the launcher included).
    sources = [*repo.glob("services/*/src/ferry_*"), repo / "libs/ferry-core/src/ferry_core"]
    packages = {p.name for p in sources if p.is_dir() and not p.name.endswith(".egg-info")}
    assert {Path(target).name for target in syncs.values()} == packages
    for source, target in syncs.items():
        assert (repo / source).is_dir(), source
        assert target == f"/opt/ferry/lib/python3.11/site-packages/{Path(source).name}"
    assert build["restart_file"].startswith("/opt/ferry/dev/")  # the dev stage makes that folder writable
    assert "install --directory --owner=ferry --group=ferry /opt/ferry/dev" in dockerfile


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed, so the dev overlay is not rendered")
def test_resources_name_objects_of_the_dev_overlay(tilt: _Tilt, repo: Path) -> None:
    ((args, _),) = tilt.named("k8s_yaml")
    assert args[0] == ("kustomize", ("deploy/k8s/overlays/dev",), {})
    docs = kustomize(repo / "deploy/k8s/overlays/dev")
    objects = {f"{doc['metadata']['name']}:{doc['kind'].lower()}" for doc in docs}
    deployments = {doc["metadata"]["name"] for doc in docs if doc["kind"] == "Deployment"}
    resources = {args[0]: kwargs for args, kwargs in tilt.named("k8s_resource")}
    assert resources.keys() == deployments
    for name, resource in resources.items():
        for obj in resource.get("objects", []):
            assert obj in objects, f"{name}: {obj}"
        for dependency in resource.get("resource_deps", []):
            assert dependency in resources, f"{name}: {dependency}"
    assert "parser:horizontalpodautoscaler" in resources["parser"]["objects"]

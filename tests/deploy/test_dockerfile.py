"""deploy/docker/Dockerfile and .dockerignore: one image, pinned dependencies, a non-root runtime."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest

PACKAGES = [
    "libs/ferry-core",
    "libs/ferry-sdk",
    "services/auth",
    "services/ingest",
    "services/parser",
    "services/notifier",
    "services/launcher",
]


@pytest.fixture(scope="module")
def dockerfile(repo: Path) -> str:
    text = (repo / "deploy/docker/Dockerfile").read_text()
    return text.replace("\\\n", " ")  # join continued lines


def _stages(dockerfile: str) -> list[tuple[str, list[str]]]:
    """(stage name, its instructions) in order."""
    stages: list[tuple[str, list[str]]] = []
    for line in (line.strip() for line in dockerfile.splitlines()):
        if match := re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, flags=re.IGNORECASE):
            stages.append((match.group(1), []))
        elif line and not line.startswith("#") and stages:
            stages[-1][1].append(line)
    return stages


def test_builder_installs_the_lock_file_then_the_packages_without_deps(dockerfile: str) -> None:
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", dockerfile, flags=re.MULTILINE)
    builder = dict(_stages(dockerfile))["builder"]
    requirements = next(i for i, line in enumerate(builder) if "pip install --requirement" in line)
    (packages,) = [i for i, line in enumerate(builder) if "pip install --no-deps" in line]
    assert requirements < packages
    assert "requirements/runtime.txt" in builder[requirements]
    for package in PACKAGES:
        assert f"COPY {package} /build/{package}" in builder
        assert f"/build/{package}" in builder[packages]


def test_runtime_is_the_last_stage_and_runs_ferry_as_a_user(dockerfile: str) -> None:
    stages = _stages(dockerfile)
    assert stages[-1][0] == "runtime"
    base = dict(stages)["base"]
    assert "USER ferry" in base
    (entrypoint,) = [line for line in base if line.startswith("ENTRYPOINT")]
    assert json.loads(entrypoint.removeprefix("ENTRYPOINT")) == ["ferry"]
    (cmd,) = [line for line in base if line.startswith("CMD")]
    assert json.loads(cmd.removeprefix("CMD")) == ["serve", "ingest"]
    for name, instructions in stages[1:]:
        users = [line for line in instructions if line.startswith("USER")]
        assert not users or users[-1] == "USER ferry", f"stage {name} ends as {users[-1]}"


def test_dockerignore_lets_through_what_the_build_copies(repo: Path, dockerfile: str) -> None:
    rules = [
        line.strip() for line in (repo / ".dockerignore").read_text().splitlines() if line.strip() and line[0] != "#"
    ]

    def included(path: str) -> bool:
        keep = True  # Docker's rule: the last matching pattern wins; "!" re-includes.
        for rule in rules:
            pattern = rule.lstrip("!").rstrip("/").removeprefix("**/")
            candidates = [path, *(path.split("/", i)[-1] for i in range(1, path.count("/") + 1))]
            if rule.lstrip("!").startswith("**/"):
                hit = any(fnmatch.fnmatch(c, pattern) or fnmatch.fnmatch(c, pattern + "/*") for c in candidates)
            else:
                hit = fnmatch.fnmatch(path, pattern) or path.startswith(pattern + "/")
            if hit:
                keep = rule.startswith("!")
        return keep

    sources = re.findall(r"^COPY (?!--from)(\S+) ", dockerfile, flags=re.MULTILINE)
    assert set(sources) == {"requirements/runtime.txt", *PACKAGES}
    for source in sources:
        assert included(source), source
        assert included(f"{source}/pyproject.toml") or source.endswith(".txt"), source
    for excluded in (".venv/bin/python", ".git/HEAD", "services/ingest/tests/test_x.py", "docs/CONVENTIONS.md"):
        assert not included(excluded), excluded

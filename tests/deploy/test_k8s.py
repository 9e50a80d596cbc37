"""deploy/k8s: objects valid against the Kubernetes API schemas, probes and resources on every
service, disruption budgets and the parser's autoscaler, an Ingress that routes like the edge.

The schemas are the Kubernetes OpenAPI schemas (as JSON Schema) that the PyPI package
kubernetes-validate ships for each Kubernetes release, checked strictly (unknown fields are
errors) against ``K8S_VERSION``. The overlays are rendered with ``kubectl kustomize`` when
kubectl is installed; without it the manifest files themselves are checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.kustomize import KUBECTL, kustomize

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed, so the Kubernetes manifests are not parsed")

K8S_VERSION = "1.33.0"  # the oldest release still supported upstream when this was written

SETTINGS = {
    "FERRY_ENV", "FERRY_HOST", "FERRY_PORT", "FERRY_DATA_DIR", "FERRY_LOG_LEVEL", "FERRY_LOG_JSON",
    "FERRY_AMQP_URL", "FERRY_MONGO_URL", "FERRY_MONGO_DB", "FERRY_S3_ENDPOINT", "FERRY_S3_ACCESS_KEY",
    "FERRY_S3_SECRET_KEY", "FERRY_S3_BUCKET", "FERRY_AUTH_URL", "FERRY_ADMIN_USERNAME", "FERRY_ADMIN_PASSWORD",
    "FERRY_SIGNING_KEY_FILE", "FERRY_ACCESS_TOKEN_TTL_SECONDS",
}  # fmt: skip


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


@pytest.fixture(scope="module")
def k8s(repo: Path) -> Path:
    return repo / "deploy/k8s"


@pytest.fixture(scope="module")
def base(k8s: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The base's objects by (kind, name)."""
    objects = {}
    for path in sorted((k8s / "base").glob("*.yaml")):
        if path.name != "kustomization.yaml":
            objects.update({(doc["kind"], doc["metadata"]["name"]): doc for doc in _documents(path)})
    return objects


def test_every_manifest_is_a_named_object(k8s: Path) -> None:
    paths = sorted(p for p in k8s.rglob("*.yaml") if p.name != "kustomization.yaml")
    assert paths
    for path in paths:
        for doc in _documents(path):
            assert doc.get("apiVersion") and doc.get("kind"), path
            assert doc.get("metadata", {}).get("name"), f"{path}: {doc.get('kind')} without metadata.name"


def test_kustomizations_list_files_that_exist(k8s: Path) -> None:
    for kustomization in k8s.rglob("kustomization.yaml"):
        (doc,) = _documents(kustomization)
        assert doc["kind"] == "Kustomization"
        for resource in doc.get("resources", []):
            assert (kustomization.parent / resource).exists(), f"{kustomization}: {resource}"


def test_each_service_has_a_deployment_and_a_service(
    base: dict[tuple[str, str], dict[str, Any]], ports: dict[str, int]
) -> None:
    for name, port in ports.items():
        deployment = base[("Deployment", name)]
        pod = deployment["spec"]["template"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
        (container,) = pod["spec"]["containers"]
        assert container["image"] == "ferry"
        assert container["args"] == ["serve", name]
        assert container["ports"] == [{"name": "http", "containerPort": port}]
        assert {"name": "FERRY_PORT", "value": str(port)} in container["env"]
        assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
        assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        service = base[("Service", name)]
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http"}]


def test_every_setting_reaches_the_pods(k8s: Path, base: dict[tuple[str, str], dict[str, Any]]) -> None:
    (kustomization,) = _documents(k8s / "base/kustomization.yaml")
    (config,) = kustomization["configMapGenerator"]
    provided = {literal.split("=", 1)[0] for literal in config["literals"]}
    for secret in _documents(k8s / "base/secret.example.yaml"):
        provided |= set(secret["stringData"])
    provided |= {
        env["name"]
        for (kind, _), doc in base.items()
        if kind == "Deployment"
        for env in doc["spec"]["template"]["spec"]["containers"][0].get("env", [])
    }
    assert SETTINGS - provided == set()


def test_ingress_routes_like_the_edge(base: dict[tuple[str, str], dict[str, Any]], edge_routes: dict[str, str]) -> None:
    (rule,) = base[("Ingress", "ferry")]["spec"]["rules"]
    paths = rule["http"]["paths"]
    assert all(p["pathType"] == "Prefix" for p in paths)

    def route(request_path: str) -> str:
        # Prefix matching is by path element: /users matches /users/me, not /usersettings.
        matching = [
            p
            for p in paths
            if p["path"] == "/" or request_path == p["path"] or request_path.startswith(p["path"] + "/")
        ]
        best = max(matching, key=lambda p: len(p["path"]))
        return str(best["backend"]["service"]["name"])

    assert {path: route(path) for path in edge_routes} == edge_routes


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed, so kustomize builds are not checked")
@pytest.mark.parametrize("overlay", ["base", "overlays/dev"])
def test_kustomize_builds(k8s: Path, overlay: str) -> None:
    docs = kustomize(k8s / overlay)
    assert all(doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"] for doc in docs)
    deployments = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "Deployment"}
    assert {"auth", "ingest", "parser", "notifier"} <= deployments.keys()
    if overlay == "overlays/dev":
        assert {"rabbitmq", "mongodb", "minio"} <= deployments.keys()
        images = {name: d["spec"]["template"]["spec"]["containers"][0]["image"] for name, d in deployments.items()}
        assert {images[name] for name in ("auth", "ingest", "parser", "notifier")} == {"ferry:dev"}
        config = next(doc for doc in docs if doc["kind"] == "ConfigMap")
        assert config["data"]["FERRY_ENV"] == "development"
        kinds = {(doc["kind"], doc["metadata"]["name"].rsplit("-", 1)[0]) for doc in docs}
        assert {("Secret", "ferry-secrets"), ("Secret", "ferry-auth-secrets")} <= kinds


def _rendered(k8s: Path, overlay: str) -> list[dict[str, Any]]:
    """The objects ``kubectl apply -k`` would send; without kubectl, those the files spell out."""
    if KUBECTL is not None:
        return kustomize(k8s / overlay)
    paths = [p for p in (k8s / overlay).glob("*.yaml") if p.name != "kustomization.yaml"]
    if overlay != "base":
        paths += [p for p in (k8s / "base").glob("*.yaml") if p.name != "kustomization.yaml"]
    return [doc for path in sorted(paths) for doc in _documents(path)]


@pytest.mark.parametrize("overlay", ["base", "overlays/dev"])
def test_manifests_follow_the_kubernetes_schemas(k8s: Path, overlay: str) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    docs = _rendered(k8s, overlay)
    assert docs
    errors = {}
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            errors[f"{doc['kind']}/{doc['metadata']['name']}"] = f"{'.'.join(map(str, error.path))}: {error.message}"
    assert errors == {}


def test_the_secret_template_follows_the_kubernetes_schemas(k8s: Path) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    for doc in _documents(k8s / "base/secret.example.yaml"):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_the_schema_check_catches_mistakes() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    broken = {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "x"},
        "spec": {"maxUnavailable": 1, "selectr": {}},  # misspelt field
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_every_service_has_a_disruption_budget(
    base: dict[tuple[str, str], dict[str, Any]], ports: dict[str, int]
) -> None:
    for name in ports:
        budget = base[("PodDisruptionBudget", name)]["spec"]
        deployment = base[("Deployment", name)]
        assert budget["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        assert budget == {"maxUnavailable": 1, "selector": budget["selector"]}


def test_the_parser_scales_on_cpu(base: dict[tuple[str, str], dict[str, Any]]) -> None:
    hpa = base[("HorizontalPodAutoscaler", "parser")]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "parser"}
    assert 1 <= hpa["minReplicas"] < hpa["maxReplicas"]
    ((metric,),) = [hpa["metrics"]]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    # Utilization is measured against the request, so the parser must request CPU; and the
    # Deployment must not set replicas, or every apply would undo the autoscaler's count.
    parser = base[("Deployment", "parser")]
    assert "cpu" in parser["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
    assert "replicas" not in parser["spec"]
    for name in ("auth", "ingest", "notifier"):
        assert base[("Deployment", name)]["spec"]["replicas"] >= 2, name

"""Static checks of the deployment files: deploy/kubernetes/*.yaml, the Dockerfile and .dockerignore.

No cluster and no image build: every manifest is parsed, its apiVersion/kind pair checked against the
Kubernetes APIs that exist, and the cross-references (selectors, ports, probes, names) checked against
each other, the ConfigMap's bastion.yaml against Bastion's own config loader, and the Dockerfile's
command against the real CLI.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from bastion import cli, cli_admin
from bastion.config_loader import load_config_text

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
DOCKERFILE = ROOT / "Dockerfile"

# the (apiVersion, kind) pairs these manifests may use: all GA APIs
KNOWN_KINDS = {
    ("v1", "Namespace"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("batch/v1", "Job"),
    ("policy/v1", "PodDisruptionBudget"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
}
DUMMY_ENV = {
    "BASTION_ADMIN_KEY": "admin-key-for-tests",
    "BASTION_CLIENT_KEY": "client-key-for-tests",
    "OPENAI_API_KEY": "sk-test",
    "ANTHROPIC_API_KEY": "sk-ant-test",
    "BASTION_DATABASE_URL": "postgresql://bastion:pw@postgres:5432/bastion",
    "BASTION_REDIS_URL": "redis://:pw@redis:6379/0",
}


def _manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def _documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in _manifest_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


def _one(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        d for _, d in _documents() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _port_number(container: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's port (a number or a named port) as the container port number."""
    if isinstance(port, int):
        return port
    by_name = {p["name"]: p["containerPort"] for p in container["ports"] if "name" in p}
    assert port in by_name, f"named port {port!r} is not declared by the container"
    return by_name[port]


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _bastion_yaml() -> str:
    return _one("ConfigMap", "bastion-config")["data"]["bastion.yaml"]


# --------------------------------------------------------------------------- every manifest


def test_every_document_is_a_known_kind_with_a_name_and_namespace() -> None:
    docs = _documents()
    assert docs
    for filename, doc in docs:
        assert (doc.get("apiVersion"), doc.get("kind")) in KNOWN_KINDS, filename
        assert doc["metadata"]["name"], filename
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == "bastion", filename


@pytest.mark.parametrize("version", ["1.29.0", "latest"])
def test_manifests_validate_against_the_kubernetes_openapi_schemas(version: str) -> None:
    """Full schema validation when ``kubernetes-validate`` (PyPI) is installed; skipped otherwise."""
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    wanted = kubernetes_validate.latest_version() if version == "latest" else version
    for filename, doc in _documents():
        try:
            kubernetes_validate.validate(doc, wanted, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{filename}: {error}")


def test_kustomization_lists_every_manifest_file() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(p.name for p in _manifest_files())


# --------------------------------------------------------------------------- Deployment


def test_deployment_selector_matches_its_pod_labels() -> None:
    deployment = _one("Deployment", "bastion")
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert _matches(selector, deployment["spec"]["template"]["metadata"]["labels"])
    assert deployment["spec"]["replicas"] >= 3


def test_deployment_probes_point_at_health_endpoints_on_the_container_port() -> None:
    container = _container(_one("Deployment", "bastion"))
    ports = [p["containerPort"] for p in container["ports"]]
    assert ports == [8080]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] in {"/readyz", "/healthz"}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert _port_number(container, container[probe]["httpGet"]["port"]) == 8080, probe


def test_deployment_runs_the_real_cli_with_the_mounted_config(monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = _one("Deployment", "bastion")
    container = _container(deployment)
    args = container["args"]
    assert args[0] == "serve"
    config = args[args.index("--config") + 1]
    assert args[args.index("--port") + 1] == str(container["ports"][0]["containerPort"])
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert Path(config).parent == Path(mounts["config"])
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == "bastion-config"
    assert Path(config).name in _one("ConfigMap", "bastion-config")["data"]
    parsed = _parses_with_the_cli(args, monkeypatch)
    assert (parsed.command, parsed.config, parsed.host, parsed.port) == ("serve", config, "0.0.0.0", 8080)


def test_deployment_is_non_root_with_a_read_only_root_and_a_writable_tmp() -> None:
    deployment = _one("Deployment", "bastion")
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    tmp = next(m for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[tmp["name"]]
    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["limits"]["memory"]


def test_deployment_takes_its_secrets_from_the_secret_and_sets_every_config_variable() -> None:
    container = _container(_one("Deployment", "bastion"))
    secret = _one("Secret", "bastion-secrets")
    assert [e["secretRef"]["name"] for e in container["envFrom"]] == ["bastion-secrets"]
    provided = set(secret["stringData"]) | {e["name"] for e in container.get("env", [])}
    referenced = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", _bastion_yaml()))
    assert referenced <= provided, f"not provided to the pod: {referenced - provided}"
    for value in secret["stringData"].values():
        assert "REPLACE-ME" in value, "secret.yaml is a template: placeholders only"


def test_termination_grace_covers_the_pre_stop_sleep_and_the_graceful_drain() -> None:
    deployment = _one("Deployment", "bastion")
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    pre_stop = _container(deployment)["lifecycle"]["preStop"]
    command = " ".join(pre_stop["exec"]["command"]) if "exec" in pre_stop else ""
    sleep = (
        pre_stop["sleep"]["seconds"]
        if "sleep" in pre_stop
        else float(re.findall(r"sleep\(?\s*(\d+)", command)[0])
    )
    assert sleep > 0
    config = load_config_text(_bastion_yaml(), environ=DUMMY_ENV)
    assert grace > sleep + config.server.graceful_shutdown_seconds


# --------------------------------------------------------------------------- Service, PDB, HPA, Job


def test_service_selects_the_pods_and_targets_the_container_port() -> None:
    deployment = _one("Deployment", "bastion")
    container = _container(deployment)
    service = _one("Service", "bastion")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert _matches(service["spec"]["selector"], labels)
    for port in service["spec"]["ports"]:
        assert _port_number(container, port["targetPort"]) == 8080


def test_pdb_selects_the_pods_and_leaves_most_of_them_up() -> None:
    deployment = _one("Deployment", "bastion")
    pdb = _one("PodDisruptionBudget", "bastion")
    assert _matches(
        pdb["spec"]["selector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"]
    )
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    spec = pdb["spec"]
    assert ("minAvailable" in spec) != ("maxUnavailable" in spec)
    if "maxUnavailable" in spec:
        assert spec["maxUnavailable"] == 1
    else:
        assert 0 < spec["minAvailable"] < deployment["spec"]["replicas"]


def test_hpa_scales_the_deployment_on_cpu() -> None:
    deployment = _one("Deployment", "bastion")
    hpa = _one("HorizontalPodAutoscaler", "bastion")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", "bastion")
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    [metric] = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource"
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    # the HPA needs a CPU request to compute utilisation
    assert _container(deployment)["resources"]["requests"]["cpu"]


def test_pool_size_times_max_replicas_fits_postgres_default_max_connections() -> None:
    config = load_config_text(_bastion_yaml(), environ=DUMMY_ENV)
    max_replicas = _one("HorizontalPodAutoscaler", "bastion")["spec"]["maxReplicas"]
    assert config.storage.pool_max_size * max_replicas < 100


def test_migration_job_runs_db_upgrade_with_the_same_config_and_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job = _one("Job", "bastion-migrate")
    container = _container(job)
    args = container["args"]
    assert args[:2] == ["db", "upgrade"]
    assert args[args.index("--config") + 1] == "/etc/bastion/bastion.yaml"
    assert job["spec"]["template"]["spec"]["restartPolicy"] in {"OnFailure", "Never"}
    assert [e["secretRef"]["name"] for e in container["envFrom"]] == ["bastion-secrets"]
    assert container["image"] == _container(_one("Deployment", "bastion"))["image"]
    parsed = _parses_with_the_cli(args, monkeypatch)
    assert (parsed.command, parsed.action, parsed.config) == ("db", "upgrade", "/etc/bastion/bastion.yaml")


# --------------------------------------------------------------------------- the embedded bastion.yaml


def test_configmap_bastion_yaml_is_valid_for_replicas() -> None:
    config = load_config_text(_bastion_yaml(), source="configmap bastion.yaml", environ=DUMMY_ENV)
    assert config.server.port == 8080
    assert config.server.admin_key == DUMMY_ENV["BASTION_ADMIN_KEY"]
    assert config.storage.url.startswith("postgresql://")
    assert config.limits.backend == "redis"
    assert config.cache.backend == "redis"
    assert config.providers


def test_configmap_holds_no_secret_values() -> None:
    text = _bastion_yaml()
    assert not re.search(r"sk-[A-Za-z0-9]", text)
    assert not re.search(r"://[^$\s]*:[^@$\s]+@", text), "a password in a URL"


# --------------------------------------------------------------------------- Dockerfile


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile_instructions()
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    return instructions[last_from:]


def _exec_form(value: str) -> list[str]:
    parsed = yaml.safe_load(value)  # a JSON array is valid YAML
    assert isinstance(parsed, list), f"not exec form: {value}"
    return parsed


def test_dockerfile_is_multi_stage_on_slim_python() -> None:
    froms = [rest for k, rest in _dockerfile_instructions() if k == "FROM"]
    assert len(froms) >= 2
    assert all(f.split()[0] == "python:3.11-slim" for f in froms)


def test_dockerfile_final_stage_runs_as_a_non_root_user() -> None:
    users = [rest for k, rest in _final_stage() if k == "USER"]
    assert users, "the final stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user == "10001"


def test_dockerfile_final_stage_has_no_build_tools() -> None:
    runs = " ".join(rest for k, rest in _final_stage() if k == "RUN")
    for tool in ("build-essential", "gcc", "apt-get install"):
        assert tool not in runs


def test_dockerfile_command_matches_the_real_cli(monkeypatch: pytest.MonkeyPatch) -> None:
    stage = _final_stage()
    entrypoint = _exec_form(next(rest for k, rest in reversed(stage) if k == "ENTRYPOINT"))
    cmd = _exec_form(next(rest for k, rest in reversed(stage) if k == "CMD"))
    assert entrypoint == ["bastion"]
    assert cmd[0] == "serve"
    assert cmd[cmd.index("--config") + 1] == "/etc/bastion/bastion.yaml"
    assert cmd[cmd.index("--host") + 1] == "0.0.0.0"
    parsed = _parses_with_the_cli(entrypoint[1:] + cmd, monkeypatch)
    assert (parsed.command, parsed.config, parsed.host) == ("serve", "/etc/bastion/bastion.yaml", "0.0.0.0")
    assert ("EXPOSE", "8080") in stage


def test_dockerfile_healthcheck_calls_healthz() -> None:
    [check] = [rest for k, rest in _final_stage() if k == "HEALTHCHECK"]
    assert "/healthz" in check
    assert "urllib" in check


def test_dockerignore_keeps_the_build_context_to_the_sources() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    copied = " ".join(rest for k, rest in _dockerfile_instructions() if k == "COPY" and "--from" not in rest)
    for source in shlex.split(copied):
        if source.startswith("./") or source.startswith("/"):
            continue  # a destination
        assert f"!{source}" in lines or f"!{source}/" in lines, f"{source} is excluded from the context"


# --------------------------------------------------------------------------- helpers


def _parses_with_the_cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> argparse.Namespace:
    """The arguments as the real ``bastion`` parser reads them (unknown flags fail); nothing runs."""
    parsed: list[argparse.Namespace] = []

    def capture(namespace: argparse.Namespace, *rest: object) -> int:
        parsed.append(namespace)
        return 0

    monkeypatch.setattr(cli, "_serve", capture)
    monkeypatch.setattr(cli, "_load", lambda path: (None, [], path or "zero-config"))
    monkeypatch.setattr(cli_admin, "run", lambda command, namespace, loaded: capture(namespace))
    assert cli.main(list(args)) == 0
    [namespace] = parsed
    return namespace

"""The deployment files, checked as far as a machine without a container engine or cluster can."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SERVICES = ("user", "chat", "mail", "web")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return data


def manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found.extend((path.name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


def test_compose_runs_every_service_with_its_backends() -> None:
    services = compose()["services"]
    for backend in ("postgres", "redis", "rabbitmq"):
        assert backend in services
        assert "healthcheck" in services[backend], backend
    commands = [tuple(s.get("command") or ()) for s in services.values()]
    for name in SERVICES:
        assert ("serve", name) in commands, name
    chats = [n for n, s in services.items() if tuple(s.get("command") or ()) == ("serve", "chat")]
    assert len(chats) == 2, "two chat instances"
    for name, service in services.items():
        assert "healthcheck" in service, f"{name} has no health check"
    assert {"postgres-data", "media"} <= set(compose()["volumes"])


def test_compose_services_wait_for_healthy_dependencies() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for dependency, condition in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert condition["condition"] == "service_healthy", f"{name} → {dependency}"


@pytest.mark.parametrize(("name", "doc"), manifests(), ids=lambda v: v if isinstance(v, str) else "")
def test_manifest_matches_the_kubernetes_schema(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, kubernetes_validate.latest_version(), strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_deployments_probe_health_and_readiness() -> None:
    deployments = {d["metadata"]["name"]: d for _, d in manifests() if d["kind"] == "Deployment"}
    assert set(SERVICES) <= set(deployments)
    for name, deployment in deployments.items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
            assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        security = deployment["spec"]["template"]["spec"].get("securityContext", {})
        assert security.get("runAsNonRoot") is True, name


def test_the_chat_service_scales_and_its_sockets_pass_the_ingress() -> None:
    kinds = [(d["kind"], d["metadata"]["name"]) for _, d in manifests()]
    hpas = [d for _, d in manifests() if d["kind"] == "HorizontalPodAutoscaler"]
    assert any(h["spec"]["scaleTargetRef"]["name"] == "chat" for h in hpas)
    assert any(k == "ConfigMap" for k, _ in kinds)
    assert any(k == "Secret" for k, _ in kinds)
    paths = [
        path["path"]
        for _, d in manifests()
        if d["kind"] == "Ingress"
        for rule in d["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    assert "/socket.io" in {p.rstrip("/") for p in paths}


def test_the_image_is_multi_stage_and_runs_as_a_user() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", dockerfile, re.MULTILINE)
    assert len(stages) >= 2
    user = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert user, "the image sets a user"
    assert user[-1].split(":")[0] not in ("root", "0")
    assert "HEALTHCHECK" in dockerfile


def procfile() -> list[tuple[str, list[str]]]:
    """``(name, words)`` per Procfile line."""
    lines = [
        line.split(":", 1)
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return [(name, command.split()) for name, command in lines]


def test_the_procfile_runs_every_service_and_two_chat_instances() -> None:
    # "exec env VAR=value" sets the environment of that one process.
    commands = [
        [w for w in words if w not in ("exec", "env") and not re.fullmatch(r"[A-Z_]+=\S*", w)]
        for _, words in procfile()
    ]
    served = [c[2] for c in commands if c[:2] == ["parley", "serve"]]
    assert sorted(set(served)) == sorted(SERVICES)
    assert served.count("chat") == 2
    ports = [c[c.index("--port") + 1] for c in commands if "--port" in c]
    assert len(ports) == len(set(ports)), "every process has its own port"


def test_every_procfile_line_execs_its_process() -> None:
    # Without exec the shell is the process: a stop signal and the exit status are the shell's.
    for name, words in procfile():
        assert words[0] == "exec", name


def test_only_what_sits_behind_a_proxy_trusts_x_forwarded_for() -> None:
    web = next(words for name, words in procfile() if name == "web")
    assert "TRUST_FORWARDED_FOR=true" not in web, "the edge must not believe a client's X-Forwarded-For"
    for example in ("microservices.env.example", "compose.env.example"):
        settings = (DEPLOY / example).read_text()
        assert not re.search(r"^TRUST_FORWARDED_FOR=\s*true", settings, re.MULTILINE | re.IGNORECASE), example


def test_bundled_deployments_never_turn_the_dev_mailbox_on() -> None:
    for name, service in compose()["services"].items():
        value = str((service.get("environment") or {}).get("DEV_MAILBOX") or "")
        assert value in ("", "${DEV_MAILBOX:-}"), f"{name} sets DEV_MAILBOX={value}"
    for _, doc in manifests():
        assert "DEV_MAILBOX" not in yaml.safe_dump(doc), doc["metadata"]["name"]
    assert "DEV_MAILBOX" not in (ROOT / "Procfile").read_text()


def test_the_kubernetes_pods_accept_only_the_connections_they_need() -> None:
    policies = {d["metadata"]["name"]: d["spec"] for _, d in manifests() if d["kind"] == "NetworkPolicy"}
    deny = [p for p in policies.values() if p["podSelector"] == {} and "ingress" not in p]
    assert deny and deny[0]["policyTypes"] == ["Ingress"], "everything not allowed is refused"
    allowed_from_ingress = [
        p
        for p in policies.values()
        for rule in p.get("ingress", [])
        for peer in rule["from"]
        if peer.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
        == "ingress-nginx"
    ]
    components = allowed_from_ingress[0]["podSelector"]["matchExpressions"][0]["values"]
    assert sorted(components) == ["chat", "web"], "the ingress reaches only what it routes to"
    # Service to service: web and chat call the others, and the user service asks chat for contacts.
    between = policies["parley-between-services"]
    callers = {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for peer in between["ingress"][0]["from"]
    }
    assert callers == {"web", "chat", "user"}

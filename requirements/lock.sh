#!/usr/bin/env bash
# Re-lock the pinned, hashed installs from pyproject.toml's ranges:
#   bash requirements/lock.sh                          keep every pin the ranges still allow
#   bash requirements/lock.sh --upgrade-package redis  move one package to its newest allowed version
#   bash requirements/lock.sh --upgrade                move everything (run requirements/drift.sh first)
# Adding a dependency: put its range in pyproject.toml, then run this. Extra arguments go to every
# `uv pip compile`. uv (pinned below) is installed into .venv-tools/ on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
UV_VERSION=0.13.9
tools=.venv-tools
if [ ! -x "$tools/bin/uv" ] || [ "$("$tools/bin/uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    python3 -m venv "$tools"
    "$tools/bin/pip" install --quiet "uv==$UV_VERSION"
fi
compile() {  # compile OUTPUT [uv arguments...]
    local output=$1
    shift
    "$tools/bin/uv" pip compile --quiet --universal --python-version 3.11 --generate-hashes \
        --custom-compile-command "bash requirements/lock.sh" --output-file "$output" "$@"
}
# One resolution for everything, then each install a subset of it, so that the pins agree across
# files (fastapi needs opentelemetry-api, which the otel extra's SDK pins exactly).
# otel: the test venv plus the tracing extra, which .ci/run installs after the suite.
compile requirements/otel.txt pyproject.toml requirements/build.in --extra test --extra otel "$@"
# test: the README's test command (the test extra includes postgres).
compile requirements/test.txt pyproject.toml requirements/build.in --extra test \
    --constraint requirements/otel.txt "$@"
# app: what the Docker images and `sluicegate up` run (the postgres extra included: 4 MB).
compile requirements/app.txt pyproject.toml requirements/build.in --extra postgres \
    --constraint requirements/otel.txt "$@"
# lake: app plus the Delta Lake destination (deltalake, and duckdb for the drill's own reader of
# the tables); app.txt stays without them.
compile requirements/lake.txt pyproject.toml requirements/build.in --extra postgres --extra lake \
    --constraint requirements/otel.txt "$@"
echo "locked: requirements/app.txt lake.txt test.txt otel.txt"

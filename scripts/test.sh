#!/usr/bin/env bash
# Install everything (scripts/setup.sh), then lint, type-check and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check cyberscan checks tests examples benchmarks
.venv/bin/ruff format --check cyberscan checks tests examples benchmarks
.venv/bin/mypy
.venv/bin/python -m pytest "$@"

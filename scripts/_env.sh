# Sourced by demo.sh and test.sh: create .venv when missing and (re)install latentdirs into it
# whenever pyproject.toml changed since the last install. Everything comes from the repo's files.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "[latentdirs] creating virtual environment in .venv" >&2
    "$PYTHON" -m venv .venv
fi
STAMP=.venv/.latentdirs-installed
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    echo "[latentdirs] installing latentdirs and its dependencies into .venv (first time: a few minutes)" >&2
    .venv/bin/python -m pip install -q --upgrade pip >&2
    .venv/bin/python -m pip install -q -e '.[test]' >&2
    touch "$STAMP"
fi
export PATH="$ROOT/.venv/bin:$PATH"

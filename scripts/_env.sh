# Sourced by demo.sh and test.sh: create .venv when missing and (re)install into it whenever
# requirements.lock or pyproject.toml changed since the last install (by content, not by date).
# Every package comes from requirements.lock, pinned and hash-checked (refresh: see README); latentdirs
# itself is then installed editable, with no dependency resolution and the locked build backend.
# LATENTDIRS_SKIP_SETUP=1 leaves .venv alone and uses the `python` and `latentdirs` already on PATH (the tests
# run demo.sh this way, inside the environment that runs them).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ "${LATENTDIRS_SKIP_SETUP:-0}" = 1 ]; then return 0; fi
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "[latentdirs] creating virtual environment in .venv" >&2
    "$PYTHON" -m venv .venv
fi
STAMP=.venv/.latentdirs-installed
WANT="$(cat requirements.lock pyproject.toml | .venv/bin/python -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ]; then
    echo "[latentdirs] installing the locked dependencies and latentdirs into .venv (first time: a few minutes)" >&2
    .venv/bin/python -m pip install -q --require-hashes -r requirements.lock >&2
    .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e . >&2
    echo "$WANT" > "$STAMP"
fi
export PATH="$ROOT/.venv/bin:$PATH"

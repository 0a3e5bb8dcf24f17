#!/usr/bin/env bash
# Set up (when needed) and run the whole test suite: ruff, then pytest. Extra args go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
ruff check latentdirs tests scripts
python -m pytest "$@"

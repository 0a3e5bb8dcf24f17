#!/usr/bin/env bash
# Set up (when needed) and run the whole test suite: ruff, then pytest. Extra args go to pytest.
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
# The editor's browser test drives headless Chromium from the system's packages: install them where we may
# (root and apt-get); elsewhere the test is skipped and says why.
if ! command -v chromedriver >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "[latentdirs] installing chromium and chromium-driver (Debian packages) for the browser test" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver; } >/dev/null 2>&1 \
        || echo "[latentdirs] could not install chromium; the browser test will be skipped" >&2
fi
ruff check latentdirs tests scripts
python -m pytest "$@"

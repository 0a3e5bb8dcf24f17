#!/usr/bin/env bash
# Set up (when needed) and run the whole test suite: ruff, then pytest. Extra args go to pytest.
# Without arguments (the README's command, and CI) the tests whose numbers depend on the CPU's vector units
# then run twice more, as on a CPU with AVX2 only and on one without vector units: torch's own kernels
# (ATEN_CPU_CAPABILITY), its BLAS and convolutions (MKL, oneDNN) and NumPy's and OpenBLAS's dispatch are each
# held to that instruction set, so a result that holds only for this machine's rounding fails here too.
# Tests marked slow (the 30-step TopDis training: half of a variant's time; the DCI fixtures) run once.
# LATENTDIRS_CPU_VARIANTS="avx2 default" (the default) names the variants; "" skips them.
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
[ $# -eq 0 ] || exit 0
NUMERIC_TESTS=(
    tests/test_ot_gromov.py tests/test_ot_sinkhorn.py tests/test_gmg.py tests/test_topology.py
    tests/test_topology_shift.py tests/test_topdis.py tests/test_jacobian.py tests/test_vae_objectives.py
    tests/test_gan_layers.py tests/test_gan_fixtures.py tests/test_directions_objectives.py
    tests/test_metrics_fixtures.py tests/test_metrics_dci_fixtures.py tests/test_metrics_properties.py
    tests/test_metrics_sampling.py
)
# NumPy's names (2.4 and later: the locked versions; older ones ignore them with an ImportWarning)
AVX512_NUMPY="X86_V4 AVX512_ICL AVX512_SPR"
for variant in ${LATENTDIRS_CPU_VARIANTS-avx2 default}; do
    case "$variant" in
        avx2) settings=(ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2
                        OPENBLAS_CORETYPE=Haswell "NPY_DISABLE_CPU_FEATURES=$AVX512_NUMPY") ;;
        default) settings=(ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 ONEDNN_MAX_CPU_ISA=SSE41
                           OPENBLAS_CORETYPE=Nehalem "NPY_DISABLE_CPU_FEATURES=X86_V3 $AVX512_NUMPY") ;;
        *) echo "[latentdirs] unknown CPU variant $variant (expected avx2 or default)" >&2; exit 2 ;;
    esac
    echo "[latentdirs] numeric tests again, as on a CPU with vector units: $variant" >&2
    env "${settings[@]}" python -m pytest -p no:cacheprovider -m "not slow" "${NUMERIC_TESTS[@]}"
done

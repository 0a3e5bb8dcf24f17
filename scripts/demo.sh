#!/usr/bin/env bash
# The main job: set up .venv when needed, then find six latent directions of a bundled StyleGAN2 with GANSpace
# (closed form, seconds; on the colour-ellipses generator its directions are the most disentangled by the ground
# truth of those measured, see the README), export them in every format other tools read, score them against the
# dataset's ground-truth factors with its bundled factor classifier (the printed table names the factor each
# direction moves), and say where everything is. Re-running is safe: discovery resumes runs/demo (a finished
# run is re-exported/re-scored).
# The generator: pretrained/ellipses_generator.json once it is bundled (colour ellipses, 7 factors), until then
# pretrained/dsprites_generator.json; the switch happens by itself when the ellipses generator is added.
#   DEMO_GENERATOR=G  another generator (a generator file trained on a dataset with a factor classifier)
#   DEMO_FRESH=1   start runs/demo again from scratch      DEMO_STEPS=N  training steps of a learned method (300)
#   DEMO_OUT=DIR   another run directory                   DEMO_RCA_STEPS=N  RCA reconstructor steps (100)
#   DEMO_METHOD=M  ganspace | sefa | reconstructor | topdis | gmg (these two next to the reconstructor);
#                  another method than GANSpace runs in runs/demo_M
#   extra arguments go to `latentdirs discover`
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
set -e
if [ -n "${DEMO_GENERATOR:-}" ]; then GENERATOR="$DEMO_GENERATOR"
elif [ -f pretrained/ellipses_generator.json ]; then GENERATOR=pretrained/ellipses_generator.json
else GENERATOR=pretrained/dsprites_generator.json; fi
METHOD="${DEMO_METHOD:-ganspace}"
if [ "$METHOD" = ganspace ]; then OUT="${DEMO_OUT:-runs/demo}"; else OUT="${DEMO_OUT:-runs/demo_$METHOD}"; fi
# One torch thread: on a small shared CPU two threads oversubscribe and run several times slower
# (measured: 289 vs 42 images/s per β-VAE step with a second process busy). Override to taste.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
if [ "${DEMO_FRESH:-0}" = 1 ]; then rm -rf "$OUT"; fi
# A run of another generator (e.g. the dSprites demo, before the ellipses generator was bundled) is not resumed
if [ -f "$OUT/config.json" ] && ! python -c 'import json, os, sys
try:
    made = json.load(open(sys.argv[1]))["generator"]["source"]
except (OSError, ValueError, KeyError, TypeError):
    made = None  # not a discovery run: discover itself refuses the folder
sys.exit(isinstance(made, str) and os.path.realpath(made) != os.path.realpath(sys.argv[2]))' "$OUT/config.json" "$GENERATOR"
then
    echo "error: $OUT holds directions of another generator than $GENERATOR; DEMO_FRESH=1 starts it over" \
        "(or DEMO_OUT=another folder)" >&2
    exit 2
fi
RESUME=()
if [ -f "$OUT/checkpoint.pt" ]; then RESUME=(--resume); fi
EXTRA=()
if [ "$METHOD" = topdis ] || [ "$METHOD" = gmg ]; then EXTRA=(--reg reconstructor); fi

# 1. six directions in W (a learned method trains DEMO_STEPS steps; GANSpace and SeFa ignore --steps)
latentdirs discover --generator "$GENERATOR" --method "$METHOD" "${EXTRA[@]}" -k 6 \
    --steps "${DEMO_STEPS:-300}" --lr 1e-3 --checkpoint-every 100 --seed 0 --out "$OUT" "${RESUME[@]}" "$@"
# 2. the same directions in GANSpace, InterFaceGAN and SeFa formats
mkdir -p "$OUT/export"
latentdirs export "$OUT/directions.safetensors" --format ganspace --out "$OUT/export/ganspace.npz"
latentdirs export "$OUT/directions.safetensors" --format interfacegan --out "$OUT/export/interfacegan" --centred
latentdirs export "$OUT/directions.safetensors" --format sefa --out "$OUT/export/sefa.npz"
# 3. which factor of the generator's dataset each direction changes (its bundled factor classifier; the table
#    of directions and factors is printed) and RCA (a fresh ResNet-18 reconstructor, the paper's; 100 steps keep
#    the demo short and understate RCA, the README's tables train it 400; an interrupted one resumes); updates
#    the report
RCA_RESUME=()
if [ -f "$OUT/rca_checkpoint.pt" ]; then RCA_RESUME=(--resume); fi
latentdirs evaluate-directions "$OUT/directions.safetensors" --generator "$GENERATOR" --no-lpips \
    --rca-steps "${DEMO_RCA_STEPS:-100}" --quiet "${RCA_RESUME[@]}"

echo
echo "generator:        $GENERATOR"
echo "directions:       $OUT/directions.safetensors"
echo "traversal grids:  $OUT/traversals/direction_XX.png (one per direction; rows = samples, columns = strengths)"
echo "exports:          $OUT/export/ganspace.npz  $OUT/export/interfacegan/  $OUT/export/sefa.npz"
echo "report:           $OUT/report.html (open it in a browser; scores in $OUT/evaluation.json)"

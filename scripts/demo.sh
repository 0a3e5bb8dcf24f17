#!/usr/bin/env bash
# The main job: set up .venv when needed, then train a small β-VAE (β = 4, 10 latents) on procedural
# dSprites — about 6 minutes on one CPU core (measured 0.25 s/step) — into runs/demo, and say where the
# traversal grid is.
# Re-running is safe: it resumes runs/demo (an already finished run is just re-summarised).
#   DEMO_FRESH=1  start runs/demo again from scratch     DEMO_STEPS=N  train N steps (default 1500)
#   DEMO_OUT=DIR  another run directory                  extra arguments go to `latentdirs train-vae`
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
OUT="${DEMO_OUT:-runs/demo}"
# One torch thread: on a small shared CPU two threads oversubscribe and run several times slower
# (measured: 289 vs 42 images/s per β-VAE step with a second process busy). Override to taste.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
STEPS="${DEMO_STEPS:-1500}"
if [ "${DEMO_FRESH:-0}" = 1 ]; then MODE=--overwrite; else MODE=--resume; fi
# A higher learning rate than disentanglement_lib's 1e-4 (and far fewer than its 300k steps) so that
# the latents already separate position and scale within minutes.
latentdirs train-vae --dataset dsprites --objective beta-vae --beta 4 --lr 5e-4 --steps "$STEPS" \
    --checkpoint-every 200 --seed 0 --device auto --out "$OUT" "$MODE" "$@"
echo "latent traversals (one row per latent, -2…2 around an image's code): $OUT/traversals.png"
echo "reconstructions: $OUT/reconstructions.png   what the run is: $OUT/README.txt"

"""How large each regularizer's gradient is against the objective's, in a ``train-vae`` run.

For a run with objective L_obj and regularizers λ_k·R_k, on ``--batches`` training batches drawn as the run
draws them (its data, noise and term streams), with the model at its last checkpoint (``--at init``: freshly
initialised with the run's seed):

    share_k = ‖∇_θ λ_k R_k‖ / ‖∇_θ L_obj‖,     cos_k = ⟨∇_θ λ_k R_k, ∇_θ L_obj⟩ / (‖·‖ ‖·‖),

θ the parameters the regularizer reaches (the decoder's for ``where=decoder``: its codes are detached; for
TopDis, trained by gradient orthogonalization, its gradient before the projection), reported as the median
and range over the batches, with share_k / λ_k (the share per unit weight: the λ that gives a wanted share,
while the share stays roughly proportional). A term that is off at that step (delay, ramp) has no share.

    python scripts/regularizer_gradient_share.py runs/studies/gmg_cpu/beta-vae+gmg/seed_0
    python scripts/regularizer_gradient_share.py runs/studies/gmg_cpu/beta-vae+dst/seed_0 --at init
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from typing import NoReturn

import torch

from latentdirs.errors import UserError
from latentdirs.io import read_json
from latentdirs.vae.config import TrainConfig
from latentdirs.vae.runs import RunDir, load_checkpoint
from latentdirs.vae.trainer import Trainer


def flat_gradient(loss: torch.Tensor, params: list[torch.Tensor]) -> torch.Tensor:
    if not loss.requires_grad:
        return torch.zeros(sum(p.numel() for p in params))
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(torch.zeros_like(p) if g is None else g).flatten() for g, p in zip(grads, params, strict=True)])


def shares(run: str, at: str, batches: int) -> list[tuple[str, float, list[float], list[float]]]:
    """Per regularizer: (label, its strength λ (``weight``, else ``gamma``), shares and cosines over the batches)."""
    config = TrainConfig.from_dict(read_json(RunDir(run).config, "run config"), source=run)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(config, RunDir(scratch), progress=False, echo=lambda _line: None)
    if at == "last":
        trainer.load(load_checkpoint(RunDir(run).checkpoint))
    objective, *regularizers = trainer.terms
    found: dict[int, tuple[list[float], list[float]]] = {i: ([], []) for i in range(len(regularizers))}
    for _ in range(batches):
        ctx = trainer.context(trainer.batch(trainer.data_rs), trainer.step)
        outputs = [term(ctx) for term in trainer.terms]
        for i, (term, out) in enumerate(zip(regularizers, outputs[1:], strict=True)):
            model = trainer.model.decoder if term.hp.get("where") == "decoder" else trainer.model
            params = [p for p in model.parameters() if p.requires_grad]
            term_loss = out["loss"] + out.get("loss_orthogonal", 0.0)  # TopDis's: before the projection
            reg, obj = flat_gradient(term_loss, params), flat_gradient(outputs[0]["loss"], params)
            if reg.norm() == 0 or obj.norm() == 0:
                continue
            found[i][0].append(float(reg.norm() / obj.norm()))
            found[i][1].append(float(reg @ obj / (reg.norm() * obj.norm())))
    return [(trainer.labels[i + 1], float(term.hp.get("weight", term.hp.get("gamma", 1.0))), *found[i])
            for i, term in enumerate(regularizers)]


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a train-vae run folder with at least one regularizer")
    parser.add_argument("--at", choices=("last", "init"), default="last",
                        help="the model at the run's last checkpoint, or freshly initialised with its seed")
    parser.add_argument("--batches", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        rows = shares(args.run, args.at, args.batches)
    except UserError as exc:  # a missing or broken run folder: one line, exit status 2 as in the CLI
        fail(str(exc))
    if not rows:
        fail(f"{args.run} has no regularizer")
    for label, weight, share, cosine in rows:
        if not share:
            print(f"{label}: off at this step (no gradient)")
            continue
        median = statistics.median(share)
        print(f"{label} (λ = {weight:g}): gradient share {median:.3g} (range {min(share):.3g}–{max(share):.3g}), "
              f"per unit weight {median / weight:.3g}; cosine with the objective's {statistics.median(cosine):+.2f}")


if __name__ == "__main__":
    main()

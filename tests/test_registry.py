"""The loss registry: spec parsing, parameter casting, unknown names, needs checking."""

import pytest

from latentdirs.errors import UserError
from latentdirs.losses import registry
from latentdirs.losses.registry import LossContext, LossTerm, Param


class _Toy(LossTerm):
    """Toy term: weight · mean(x)."""

    name = "_toy_test_term"
    needs = frozenset({"x"})
    params = {"weight": Param(1.0), "delay": Param(0), "on": Param(True), "mode": Param("a", choices=("a", "b"))}

    def forward(self, ctx):
        return {"loss": self.hp["weight"] * ctx.x.mean()}


registry.register(_Toy)


def test_bounds_and_non_finite_numbers_are_refused():
    weight, delay, lr = Param(1.0, minimum=0), Param(0, minimum=0), Param(1e-3, above=0)
    assert weight.cast("weight", "0", "t") == 0.0 and delay.cast("delay", 3, "t") == 3
    assert lr.cast("lr", "2e-4", "t") == pytest.approx(2e-4)
    for param, value, message in [(weight, "-1", "must be ≥ 0"), (lr, "0", "must be > 0"),
                                  (delay, -2, "must be ≥ 0"), (weight, "nan", "must be a finite number"),
                                  (weight, "inf", "must be a finite number"), (delay, "inf", "not a valid int"),
                                  (lr, float("-inf"), "must be a finite number")]:
        with pytest.raises(UserError, match=message):
            param.cast("x", value, "t")
    # every registered term refuses a negative weight and NaN, as one error line (no silent NaN training)
    for spec in ("topdis:gamma=nan", "topdis:gamma=-1", "beta-vae:beta=-1", "gmg:tol=0", "jacobian_l1:fd_step=0",
                 "topdis:card=inf", "dir-topdis:C=0.5", "dir-gmg:points=2", "reconstructor:lr=0"):
        with pytest.raises(UserError, match="must be|not a valid"):
            registry.build(spec)


def test_parse_spec():
    assert registry.parse_spec("topdis") == ("topdis", {})
    assert registry.parse_spec("topdis:gamma=5, delay=1000") == ("topdis", {"gamma": "5", "delay": "1000"})
    for bad in ["", ":gamma=1", "x:gamma", "x:gamma=", "x:a=1,a=2"]:
        with pytest.raises(UserError):
            registry.parse_spec(bad)


def test_build_casts_and_validates():
    term = registry.build("_toy_test_term:weight=2.5,delay=10,on=false,mode=b")
    assert term.hp == {"weight": 2.5, "delay": 10, "on": False, "mode": "b"}
    term = registry.build({"name": "_toy_test_term", "weight": 3})
    assert term.hp["weight"] == 3.0 and isinstance(term.hp["weight"], float)
    with pytest.raises(UserError, match="unknown parameter"):
        registry.build("_toy_test_term:wieght=1")
    with pytest.raises(UserError, match="not a valid int"):
        registry.build("_toy_test_term:delay=1.5")
    with pytest.raises(UserError, match="must be one of"):
        registry.build("_toy_test_term:mode=c")
    with pytest.raises(UserError, match="unknown loss '_toy_test_trm'.*did you mean"):
        registry.build("_toy_test_trm")


def test_forward_and_needs():
    import torch

    term = registry.build("_toy_test_term:weight=2")
    out = term(LossContext(x=torch.ones(3)))
    assert float(out["loss"]) == 2.0
    registry.check_needs([term], frozenset({"x"}), "toy")
    with pytest.raises(UserError, match="needs x"):
        registry.check_needs([term], frozenset({"z"}), "toy")


def test_losses_name_describes_every_parameter(capsys):
    from cli_support import run_cli

    code, out, _ = run_cli(["losses", "gmg"], capsys)
    assert code == 0 and "Uscidda" in out and "parameters (NAME:key=value,…):" in out
    for key, param in registry.get("gmg").params.items():  # every parameter, with its default and its meaning
        assert f"  {key}={param.default}  {param.help}" in out
    assert "(one of identity, product)" in out and "(≥ 1)" in out
    code, _, err = run_cli(["losses", "gmgg"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "did you mean 'gmg'" in err

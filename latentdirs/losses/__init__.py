"""Loss terms of both subsystems, behind one registry (see :mod:`latentdirs.losses.registry`).

Each module in this package registers its terms on import; the registry imports them all.
"""

from .registry import (
    OBJECTIVE,
    REGULARIZER,
    LossContext,
    LossTerm,
    Param,
    available,
    build,
    check_needs,
    get,
    parse_spec,
    register,
)

__all__ = [
    "OBJECTIVE", "REGULARIZER", "LossContext", "LossTerm", "Param",
    "available", "build", "check_needs", "get", "parse_spec", "register",
]

"""Loss terms of the direction-discovery trainer (domain ``"directions"``).

They are defined in :mod:`latentdirs.directions.objectives` (next to the trainer whose context they
read); importing that module registers them.
"""

from ..directions import objectives  # noqa: F401

"""Studies: seeds × settings sweeps of ``train-vae`` or ``discover`` runs, evaluated, with a statistics report.

- :mod:`.spec` — the spec file (JSON or YAML) and its checks
- :mod:`.argv`, :mod:`.kinds` — spec options → the commands' own command lines; what each base command's
  cells run and where their numbers land
- :mod:`.cells` — the cells (``OUT/<setting>/seed_<k>/``), the checks before anything starts, their status
- :mod:`.lock`, :mod:`.runner` — ``study run`` (on an executor of :mod:`latentdirs.executors`)
- :mod:`.results`, :mod:`.stats`, :mod:`.plots`, :mod:`.report` — ``study report``
"""

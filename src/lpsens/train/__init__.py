"""Training campaigns: the paper's GAP training protocol as an ensemble of launcher tasks.

See docs/training.md. Modules: :mod:`~lpsens.train.spec` (the TOML spec),
:mod:`~lpsens.train.configurations` (generation 0), :mod:`~lpsens.train.labelling` (reference
calculator), :mod:`~lpsens.train.fit` (gap_fit and the repulsive core),
:mod:`~lpsens.train.exploration` (MD with a candidate GAP), :mod:`~lpsens.train.selection`
(failure detection, CUR), :mod:`~lpsens.train.generations` (the data space),
:mod:`~lpsens.train.tasks` (launcher tasks) and :mod:`~lpsens.train.gates` (validation).
Nothing heavy is imported here.
"""

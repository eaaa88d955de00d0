"""Install a GAP trained by `lpsens train` as the bundled demo GAP (+ its compiled twin).

    python potentials/ship_trained_gap.py TRAIN_ROOT [--generation G] [--gates GATES.json]

Writes src/lpsens/data/potentials/demo_gap.xml (the fit's XML without the <XYZ_data> copy of the
training set, label GAP_LPS_demo), demo_gap.json (provenance: the spec, generation, training set
counts, gates), and compiles demo_gap.uf3 (+ .json sidecar) with `lpsens potential compile`.
"""

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "src" / "lpsens" / "data" / "potentials"
LABEL = "GAP_LPS_demo"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", type=Path)
    p.add_argument("--generation", type=int)
    p.add_argument("--gates", type=Path, help="JSON written by lpsens train --validate --json")
    p.add_argument("--tolerance", type=float, default=0.02)
    a = p.parse_args(argv)
    from lpsens.potential.compile import compile_gap
    from lpsens.status import JobStatus
    from lpsens.train.generations import open_training, spec_of
    from lpsens.train.tasks import GAP_FILE

    project = open_training(a.root)
    fits = [j for j in project.find_jobs({"train_kind": "fit"}) if j.doc.get("status") == JobStatus.DONE.value]
    if a.generation is not None:
        fits = [j for j in fits if int(j.sp["generation"]) == a.generation]
    if not fits:
        print(f"Error: {a.root}: no finished fit" + ("" if a.generation is None else f" of generation {a.generation}"))
        return 1
    job = max(fits, key=lambda j: int(j.sp["generation"]))
    text = (Path(job.path) / GAP_FILE).read_text()
    text, n = re.subn(r"\s*<XYZ_data\b.*?</XYZ_data>", "", text, flags=re.S)
    old = re.search(r'<GAP_params label="([^"]+)"', text).group(1)
    text = text.replace(old, LABEL)
    xml = OUT / "demo_gap.xml"
    xml.write_text(text)
    spec = spec_of(project)
    meta = {
        "label": LABEL, "file": xml.name, "sha256": hashlib.sha256(text.encode()).hexdigest(),
        "species": ["Li", "P", "S"], "descriptor_choice": "2b+3b",
        "descriptors": " : ".join(c for c in job.doc["gap_fit_command"] if c.startswith("gap="))[5:-1],
        "cutoff_A": spec.fit.cutoff_2b_A, "e0_eV": job.doc["e0_eV"], "core_eps12": job.doc.get("core_eps12"),
        "gap_fit_command": job.doc["gap_fit_command"],
        "training_set": {"campaign": str(Path(a.root).resolve()), "generation": int(job.sp["generation"]),
                         "n_train_frames": job.doc["n_train_frames"], "n_heldout_frames": job.doc["n_heldout_frames"],
                         "reference": spec.reference.name, "extra_frames": spec.configurations.extra_frames,
                         "spec": spec.to_dict(), "spec_file": "signac_project/train_demo.toml",
                         "generations": project.doc.get("generations")},
        "gates": json.loads(a.gates.read_text()) if a.gates else None,
        "made_by": "potentials/ship_trained_gap.py",
    }
    (OUT / "demo_gap.json").write_text(json.dumps(meta, indent=1) + "\n")
    res = compile_gap(xml, OUT / "demo_gap.uf3", tolerance_eV_A=a.tolerance, progress=print)
    print(f"installed generation {meta['training_set']['generation']}: {xml} ({len(text)} bytes), "
          f"uf3 force RMS {res.fidelity['force_rms_eV_A']:.4f} eV/A")
    return 0


if __name__ == "__main__":
    sys.exit(main())

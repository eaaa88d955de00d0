"""`lpsens demo --quick` end to end: real launcher under mpiexec -n 2, real LAMMPS, bundled GAP.

The whole quick demo (21 jobs, ~1-2 min on 2 cores) is marked slow; the default suite runs the
same pipeline on a 3-job selection of the demo campaign (``run_demo(spec=...)``, ~15 s).
"""

import copy
import csv

import h5py
import pytest
from lpsens_testing import run_cli

from lpsens.campaign import parse_campaign
from lpsens.demo import demo_spec


@pytest.mark.mpi
@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path):
    root = tmp_path / "demo"
    proc = run_cli("demo", "--quick", "--root", root, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "lpsens demo finished" in proc.stderr
    # Every job done or stopped for broken chemistry, through the real launcher (journal
    # written); the done ones analysed and gathered, those with broken chemistry left out.
    status = run_cli("status", "--root", root, "--json", check=True)
    import json

    report = json.loads(status.stdout)
    n_jobs = len(list(parse_campaign(demo_spec(quick=True)).state_points()))
    assert report["total"] == n_jobs == 21 and report["by_status"]["done"] >= 1
    assert report["by_status"]["done"] + report["by_status"]["failed"] == n_jobs
    assert all("ChemistryError" in f["reason"] for f in report["failures"] if f["status"] == "failed")
    assert (root / ".lpsens" / "journal.jsonl").exists()
    import signac

    # The demo runs the compiled demo GAP (backend uf3), relaxed before MD.
    for job in signac.get_project(str(root)):
        assert job.doc["provenance"]["backend"] == "uf3", job.doc["provenance"]["backend"]
        assert job.doc["relax"]["energy_eV"] <= job.doc["relax"]["energy_initial_eV"]
    results = root / "results"
    with h5py.File(results / "results.h5") as fh:
        assert fh.attrs["format"] == "lpsens-results"
        assert fh.attrs["n_jobs"] == report["by_status"]["done"]
        n_intact = fh.attrs["n_jobs"] - fh.attrs["n_jobs_broken"]
    with open(results / "transport.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == n_intact >= 1  # one replica per state point in the demo
    # a slow crystal over a 10 ps run may fit a D below zero; the table must then flag it
    assert all(float(r["D_cm2_s"]) > 0 and float(r["sigma_S_cm"]) > 0 or "error>value" in r["flags"] for r in rows)
    assert any(float(r["D_cm2_s"]) > 0 for r in rows)
    with open(results / "paper.csv") as fh:
        assert {r["verdict"] for r in csv.DictReader(fh)} <= {"agrees", "disagrees", "not computed"}
    for fig in ("fig1_arrhenius", "fig3_anions"):
        assert (results / "figures" / f"{fig}.png").stat().st_size > 0
    # The conductivity table and the demo's targets are printed on stdout of the demo.
    assert "sigma_S_cm" in proc.stdout
    _check_targets(results, proc.stdout)


def _check_targets(results, stdout):
    from lpsens.analysis.targets import TARGET_VERDICTS, TARGETS

    with open(results / "demo_targets.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["target"] for r in rows] == [t.key for t in TARGETS]
    assert {r["verdict"] for r in rows} <= set(TARGET_VERDICTS)
    assert all(r["why"] for r in rows if r["verdict"] != "met")  # every miss says why
    text = (results / "demo_targets.txt").read_text()
    assert text.startswith("== demo targets") and text in stdout
    return rows


def _small_demo_spec():
    """gamma-Li3PS4 and the 75 glass (free and frozen S) at 700 K: the demo's pipeline on 3 jobs."""
    spec = copy.deepcopy(demo_spec(quick=True))
    spec["material"] = [m for m in spec["material"] if m["name"] == "gamma_Li3PS4"
                        or (m["name"] == "glass" and m.get("x_Li2S_mol_pct") == 75)]
    for m in spec["material"]:
        m["temperatures_K"] = [700]
    return spec


@pytest.mark.mpi
def test_demo_pipeline_on_a_selection_prints_and_writes_the_targets(tmp_path, capfd):
    from lpsens.demo import run_demo

    root = tmp_path / "demo"
    results = run_demo(root, spec=_small_demo_spec())
    out = capfd.readouterr()
    assert "lpsens demo finished" in out.err
    import signac

    docs = [job.doc() for job in signac.get_project(str(root))]
    assert len(docs) == 3 and {d["status"] for d in docs} <= {"done", "failed"}
    assert all("ChemistryError" in d["reason"] for d in docs if d["status"] == "failed")
    rows = {r["target"]: r for r in _check_targets(results.parent, out.out)}
    n_stopped = sum(d["status"] == "failed" for d in docs)
    assert (rows["no_broken_frame"]["verdict"] == "not met") == (n_stopped > 0 or "done with broken" in
                                                                 rows["no_broken_frame"]["why"])
    # alpha-Li3PS4, Li7P3S11 and the 67 glass are not in the selection: their orderings cannot be judged
    assert rows["order_crystals"]["verdict"] == rows["order_glass"]["verdict"] == "not computed"


def test_demo_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "keep.txt").write_text("user data")
    proc = run_cli("demo", "--quick", "--root", tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.startswith("Error:") and "not empty" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_quick_spec_is_shorter_and_valid():
    full = parse_campaign(demo_spec())
    quick = parse_campaign(demo_spec(quick=True))
    steps = lambda c: sum(p.total_steps for _, p in c.state_points())  # noqa: E731
    assert steps(quick) < steps(full)
    assert [sp for sp, _ in quick.state_points()] == [sp for sp, _ in full.state_points()]


def test_demo_campaign_has_the_papers_materials_sizes_and_lengths():
    """Issue 14: the paper's materials, >= 3 temperatures each, >= 100 ps, >= 150 atoms, crystal cells
    >= 10 A wide (the S-S RDF reaches past the 4.3 A peak), the uf3 backend, the frozen-S glass."""
    from lpsens.analysis.rdf import perpendicular_widths_A
    from lpsens.structures import build_structure

    campaign = parse_campaign(demo_spec())
    assert campaign.potential.backend == "uf3"
    points = {}
    for sp, protocol in campaign.state_points():
        assert protocol.production_ps >= 100.0
        points.setdefault((sp.material, sp.x_Li2S_mol_pct, sp.constraint), set()).add(sp.temperature_K)
    assert {(m, c) for m, _, c in points} == {("alpha_Li3PS4", "none"), ("beta_Li3PS4", "none"),
                                              ("gamma_Li3PS4", "none"), ("Li7P3S11", "none"), ("glass", "none"),
                                              ("glass", "frozen_S")}
    assert {x for m, x, _ in points if m == "glass"} == {67.0, 75.0}
    assert ("glass", 75.0, "frozen_S") in points
    assert all(len(T) >= 3 for T in points.values())
    for material, x, _ in {(m, x, "none") for m, x, _ in points}:
        atoms = build_structure(material, x, seed=1, **campaign.system.to_dict())
        widths = perpendicular_widths_A(atoms.cell)
        assert len(atoms) >= 150, (material, len(atoms))
        assert widths.min() >= 10.0, (material, widths)  # RDF r_max = half of it >= 5 A > 4.3 A


def test_targets_of_a_project_where_nothing_finished(tmp_path, capsys):
    """check_targets reads the job states itself: stopped and pending jobs, no results at all."""
    import signac

    from lpsens.demo import check_targets
    from lpsens.project import init_project
    from lpsens.status import set_status

    root = tmp_path / "demo"
    init_project(parse_campaign(_small_demo_spec()), root)
    (glass,) = signac.get_project(str(root)).find_jobs({"material": "glass", "constraint": "none"})
    set_status(glass, "running")
    set_status(glass, "failed", reason="ChemistryError: job x: broken chemistry in frame 0 (0 ps): ...")
    rows = {r["target"]: r for r in check_targets(root, root / "results")}
    assert rows["no_broken_frame"]["verdict"] == "not met"
    assert "1 stopped by the chemistry check (glass75 700K)" in rows["no_broken_frame"]["why"]
    assert rows["crystals_keep_units"]["verdict"] == "not computed"  # gamma still pending
    assert rows["D_precision"]["verdict"] == "not computed"
    text = (root / "results" / "demo_targets.txt").read_text()
    assert text in capsys.readouterr().out and "0 of 6 met" in text

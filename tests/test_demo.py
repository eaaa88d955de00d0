"""`lpsens demo --quick` end to end: real launcher under mpiexec -n 2, real LAMMPS, bundled GAP."""

import csv

import h5py
import pytest
from lpsens_testing import run_cli

from lpsens.demo import demo_spec


@pytest.mark.mpi
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
    assert report["total"] == 4 and report["by_status"]["done"] >= 1
    assert report["by_status"]["done"] + report["by_status"]["failed"] == 4
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
    assert all(float(r["D_cm2_s"]) > 0 and float(r["sigma_S_cm"]) > 0 for r in rows)
    with open(results / "paper.csv") as fh:
        assert {r["verdict"] for r in csv.DictReader(fh)} <= {"agrees", "disagrees", "not computed"}
    for fig in ("fig1_arrhenius", "fig3_anions"):
        assert (results / "figures" / f"{fig}.png").stat().st_size > 0
    # The conductivity table is printed on stdout of the demo.
    assert "sigma_S_cm" in proc.stdout


def test_demo_refuses_a_non_empty_directory(tmp_path):
    (tmp_path / "keep.txt").write_text("user data")
    proc = run_cli("demo", "--quick", "--root", tmp_path)
    assert proc.returncode != 0
    assert proc.stderr.startswith("Error:") and "not empty" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_quick_spec_is_shorter_and_valid():
    from lpsens.campaign import parse_campaign

    full = parse_campaign(demo_spec())
    quick = parse_campaign(demo_spec(quick=True))
    steps = lambda c: sum(p.total_steps for _, p in c.state_points())  # noqa: E731
    assert steps(quick) < steps(full)
    assert [sp for sp, _ in quick.state_points()] == [sp for sp, _ in full.state_points()]

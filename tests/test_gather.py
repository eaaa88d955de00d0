import copy
import json
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import signac

from lpsens.analysis import analyze_trajectory
from lpsens.analysis.arrhenius import K_B_EV
from lpsens.analysis.pipeline import write_json_atomic
from lpsens.analysis.synthetic import write_random_walk
from lpsens.gather import gather
from lpsens.statepoint import SCHEMA_VERSION

EA = {"gamma_Li3PS4": 0.35, "Li7P3S11": 0.20}


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "lpsens", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    path = write_random_walk(tmp_path_factory.mktemp("t") / "trajectory.h5", n_frames=2000, n_walkers=16)
    result = analyze_trajectory(path)
    # random walkers overlap (broken chemistry by design); these tests are about the statistics
    assert result["integrity"]["broken"]
    result["integrity"].update(broken=False, reason=None)
    return result


def _lpsens_project(root):
    project = signac.init_project(str(root))
    project.doc["lpsens_schema_version"] = SCHEMA_VERSION  # as `lpsens init` would
    return project


def _project(root, template, *, frozen=True):
    project = _lpsens_project(root)
    rng = np.random.default_rng(0)
    points = [("gamma_Li3PS4", 75.0, T, r, "none") for T in (500, 600, 700, 800) for r in (0, 1)]
    points += [("Li7P3S11", 70.0, T, 0, "none") for T in (500, 600, 700)]
    if frozen:
        points += [("gamma_Li3PS4", 75.0, 600, 0, "frozen_S"), ("gamma_Li3PS4", 75.0, 600, 0, "frozen_P")]
    jobs = []
    for mat, x, T, rep, con in points:
        job = project.open_job({"material": mat, "x_Li2S_mol_pct": x, "temperature_K": T, "replica": rep,
                                "constraint": con}).init()
        res = copy.deepcopy(template)
        sigma = 1e3 / T * np.exp(-EA[mat] / (K_B_EV * T)) * (0.2 if con != "none" else 1.0)
        sigma = float(sigma * np.exp(0.03 * rng.standard_normal()))
        res.update(sigma_S_cm=sigma, sigma_err_S_cm=0.03 * sigma, D_cm2_s=sigma * 1e-3, D_err_cm2_s=3e-5 * sigma,
                   temperature_K=float(T), job_id=job.id, statepoint=dict(job.sp))
        write_json_atomic(job.fn("analysis.json"), res)
        job.doc.update({"status": "done", "potential": {"sha256": "abc", "label": "demo"},
                        "protocol": {"timestep_fs": 2.0}, "host": "h", "started": "2025-01-01T00:00:00+00:00",
                        "finished": "2025-01-01T00:10:00+00:00", "analysis": {"D_cm2_s": res["D_cm2_s"]}})
        jobs.append(job)
    project.open_job({"material": "Li7P3S11", "x_Li2S_mol_pct": 70.0, "temperature_K": 900, "replica": 0,
                      "constraint": "none"}).init().doc["status"] = "running"
    return project, jobs


def test_gather_writes_h5_tables_and_figures(tmp_path, template):
    project, jobs = _project(tmp_path / "proj", template)
    out = tmp_path / "out" / "results.h5"
    res = gather(project.path, out)
    assert not res.skipped
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(
        ["results.h5", "figures", *(f"{n}.csv" for n in res.tables)])
    with h5py.File(out, "r") as h:
        assert h.attrs["format"] == "lpsens-results"
        assert h.attrs["n_jobs"] == len(jobs)
        g = h["statepoints/gamma_Li3PS4/x75.00/none/T600K/replica1"]
        assert g.attrs["potential_sha256"] == "abc"
        assert g.attrs["job_elapsed_s"] == 600.0
        assert json.loads(g.attrs["job_protocol"]) == {"timestep_fs": 2.0}
        assert g["msd_A2"].shape == g["msd_lag_time_ps"].shape
        assert "tables/arrhenius/Ea_eV" in h
    transport = {(r["material"], r["constraint"], r["temperature_K"]): r for r in res.tables["transport"]}
    assert transport[("gamma_Li3PS4", "none", 600)]["n_replicas"] == 2
    arr = {(r["material"], r["constraint"]): r for r in res.tables["arrhenius"]}
    assert arr[("gamma_Li3PS4", "none")]["Ea_eV"] == pytest.approx(0.35, abs=0.03)
    assert arr[("Li7P3S11", "none")]["Ea_eV"] == pytest.approx(0.20, abs=0.03)
    assert ("gamma_Li3PS4", "frozen_S") not in arr  # one temperature: no fit, a note instead
    assert any("frozen_S" in n for n in res.notes)
    ratios = {r["constraint"]: r for r in res.tables["frozen_ratio"]}
    assert ratios["frozen_S"]["ratio"] == pytest.approx(0.2, rel=0.2)
    assert {p.suffix for p in res.figures} == {".png", ".pdf"}
    assert len(res.figures) >= 6
    assert "== transport" in res.text and "gamma_Li3PS4" in res.text


def test_gather_cli_skips_corrupt_and_missing(tmp_path, template):
    project, jobs = _project(tmp_path / "proj", template, frozen=False)
    with open(jobs[0].fn("analysis.json"), "w") as fh:
        fh.write('{"format": "lpsens-analysis", "D_cm2_s": 1.0, ')  # truncated
    os.unlink(jobs[1].fn("analysis.json"))
    out = tmp_path / "res.h5"
    proc = _cli("gather", "--root", project.path, "-o", out, "--no-figures")
    assert proc.returncode == 0, proc.stderr
    assert f"skipped job {jobs[0].id}" in proc.stderr and "unreadable" in proc.stderr
    assert f"skipped job {jobs[1].id}" in proc.stderr and "lpsens analyze" in proc.stderr
    assert "== arrhenius" in proc.stdout
    with h5py.File(out, "r") as h:
        assert h.attrs["n_jobs"] == len(jobs) - 2
    assert not list(tmp_path.glob(".res.h5.tmp*"))


def test_analyze_root_then_gather(tmp_path):
    project = _lpsens_project(tmp_path / "proj")
    done = project.open_job({"material": "glass", "x_Li2S_mol_pct": 75.0, "temperature_K": 600, "replica": 0,
                             "constraint": "none"}).init()
    write_random_walk(done.fn("trajectory.h5"), n_frames=2000, n_walkers=8, n_framework=8)
    done.doc["status"] = "done"
    short = project.open_job({"material": "glass", "x_Li2S_mol_pct": 75.0, "temperature_K": 700, "replica": 0,
                              "constraint": "none"}).init()
    write_random_walk(short.fn("trajectory.h5"), n_frames=50, n_walkers=8)
    short.doc["status"] = "done"
    project.open_job({"material": "glass", "x_Li2S_mol_pct": 75.0, "temperature_K": 800, "replica": 0,
                      "constraint": "none"}).init().doc["status"] = "pending"
    proc = _cli("analyze", "--root", project.path)
    assert proc.returncode == 1  # the too-short job failed, the other was analysed
    assert "too short" in proc.stderr
    assert done.doc["analysis"]["temperature_K"] == 600.0
    with open(done.fn("analysis.json")) as fh:
        assert json.load(fh)["statepoint"]["replica"] == 0
    assert "analysis" not in short.doc and "too short" in short.doc["analysis_error"]
    proc = _cli("analyze", "--root", project.path, "--json")
    assert json.loads(proc.stdout)["analysed"] == []  # done jobs are not redone
    proc = _cli("gather", "--root", project.path, "-o", tmp_path / "r.h5", "--no-figures")
    assert proc.returncode == 0, proc.stderr
    # random walkers overlap: the job is flagged and left out of the tables
    assert f"job {done.id[:10]} (excluded): integrity: broken at 0 ps" in proc.stderr
    assert "1 of 1 jobs have broken chemistry and are excluded" in proc.stderr
    assert "== transport: (no data)" in proc.stdout
    proc = _cli("gather", "--root", project.path, "-o", tmp_path / "r.h5", "--include-broken")
    assert proc.returncode == 0, proc.stderr
    assert "(included): integrity: broken" in proc.stderr
    assert "too short" in proc.stderr  # the failed job is reported as skipped
    assert "note:" in proc.stderr  # a one-temperature campaign: no Arrhenius fit, figures with notes
    assert (tmp_path / "figures" / "fig1_arrhenius.png").is_file()


def test_gather_and_analyze_skip_corrupt_job_documents(tmp_path, template):
    from lpsens.analysis import analyze_project

    project, jobs = _project(tmp_path / "proj", template, frozen=False)
    empty, cut = jobs[0], jobs[1]
    doc_path = empty.fn("signac_job_document.json")
    from pathlib import Path

    Path(doc_path).write_text("")  # quota full: 0 bytes
    cut_path = Path(cut.fn("signac_job_document.json"))
    cut_path.write_text(cut_path.read_text()[: len(cut_path.read_text()) // 2])  # node died mid-write
    res = gather(project.path, tmp_path / "r.h5", figures=False)
    reasons = dict(res.skipped)
    assert set(reasons) == {empty.id, cut.id} and len(res.records) == len(jobs) - 2
    assert doc_path in reasons[empty.id] and "empty" in reasons[empty.id]
    for reason in reasons.values():
        assert "\n" not in reason and "restore" in reason and "delete" not in reason
    report = analyze_project(project.path)  # every good job is done and analysed already
    assert {j for j, _ in report.unreadable} == {empty.id, cut.id}
    assert len(report.skipped) == len(jobs) - 2 + 1  # the running job, and the analysed ones
    proc = _cli("analyze", "--root", project.path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"job {cut.id}: skipped:" in proc.stderr and "unreadable 2" in proc.stderr


# ---------------------------------------------------------------- no absurd numbers (issue 14 item 5)
def _rows(Ts, rel_err=0.05, Ea=0.3, hops=None):
    from lpsens.analysis.pipeline import uncertainty_flags

    rows = []
    for T in Ts:
        s = 1e3 / T * np.exp(-Ea / (K_B_EV * T))
        h = (hops or {}).get(T, "ok")
        rows.append({"material": "glass", "x_Li2S_mol_pct": 75.0, "constraint": "none", "temperature_K": T,
                     "sigma_S_cm": s, "sigma_sem_S_cm": rel_err * s, "hop_statistics": h,
                     "flags": uncertainty_flags(s, rel_err * s, h)})
    return rows


def test_two_temperatures_give_no_extrapolation():
    from lpsens.analysis.ensemble import arrhenius_table

    rows, notes = arrhenius_table(_rows([600, 700]))
    (row,) = rows
    assert row["Ea_eV"] == pytest.approx(0.3, rel=1e-6)  # the slope itself is reported
    assert np.isnan(row["sigma_300K_S_cm"]) and np.isnan(row["sigma_300K_ci95_high_S_cm"])
    assert "2 temperatures" in row["extrapolation"] and any("not extrapolated" in n for n in notes)


def test_unbounded_interval_gives_no_extrapolation_and_flags():
    from lpsens.analysis.ensemble import arrhenius_table

    (row,), notes = arrhenius_table(_rows([600, 650, 700], rel_err=1.5))  # errors larger than the values
    assert np.isnan(row["sigma_300K_S_cm"]) and "interval spans a factor" in row["extrapolation"]
    assert row["flags"] == "error>value"  # Ea is not distinguishable from 0 either
    (good,), _ = arrhenius_table(_rows([500, 600, 700, 800], rel_err=0.03))
    assert good["extrapolation"] == "ok" and good["flags"] == ""
    assert good["sigma_300K_ci95_low_S_cm"] < good["sigma_300K_S_cm"] < good["sigma_300K_ci95_high_S_cm"]


def test_runs_without_hops_are_left_out_of_the_fit():
    from lpsens.analysis.ensemble import arrhenius_table

    rows = _rows([400, 500, 600, 700], hops={400: "none"})
    rows[0]["sigma_S_cm"] *= 1e-3  # vibration only: a meaningless small value
    (row,), notes = arrhenius_table(rows)
    assert row["n_temperatures"] == 3 and row["excluded_K"] == "400"
    assert row["Ea_eV"] == pytest.approx(0.3, rel=1e-6)
    assert any("400 K left out" in n for n in notes)


def test_flags_reach_csv_text_and_h5(tmp_path, template):
    project, jobs = _project(tmp_path / "proj", template, frozen=False)
    with open(jobs[0].fn("analysis.json")) as fh:
        res = json.load(fh)
    res["D_err_cm2_s"] = 3 * res["D_cm2_s"]  # one noisy replica of gamma 500 K
    res["sigma_err_S_cm"] = 3 * res["sigma_S_cm"]
    res["hop_statistics"] = "poor"
    write_json_atomic(jobs[0].fn("analysis.json"), res)
    out = gather(project.path, tmp_path / "r.h5", figures=True, figures_dir=tmp_path / "fig")
    row = next(r for r in out.tables["transport"] if r["material"] == "gamma_Li3PS4" and r["temperature_K"] == 500)
    assert row["hop_statistics"] == "poor" and "few-hops" in row["flags"]
    csv_text = (tmp_path / "transport.csv").read_text()
    assert "flags" in csv_text.splitlines()[0] and "few-hops" in csv_text
    assert "few-hops" in out.text
    with h5py.File(tmp_path / "r.h5", "r") as h:
        assert any("few-hops" in v.decode() for v in h["tables/transport/flags"][()])
    arr = {r["material"]: r for r in out.tables["arrhenius"]}
    assert arr["Li7P3S11"]["extrapolation"] == "ok"  # 3 temperatures, tight errors


def _break(job, reason="broken at 12.4 ps (frame 124, 3% of frames broken): P 17 has 5 S within 2.6 Å"):
    with open(job.fn("analysis.json")) as fh:
        res = json.load(fh)
    res["integrity"].update(broken=True, reason=reason, broken_fraction=0.03,
                            first_broken={"frame": 124, "time_ps": 12.4, "kind": "P_coordination"})
    write_json_atomic(job.fn("analysis.json"), res)


def test_broken_jobs_are_excluded_counted_and_includable(tmp_path, template):
    project, jobs = _project(tmp_path / "proj", template, frozen=False)
    g600 = [j for j in jobs if j.sp["material"] == "gamma_Li3PS4" and j.sp["temperature_K"] == 600]
    _break(g600[0])
    li7 = [j for j in jobs if j.sp["material"] == "Li7P3S11"]
    for j in li7[:2]:  # 500 K and 600 K: one temperature left, no Arrhenius fit
        _break(j)
    res = gather(project.path, tmp_path / "r.h5", figures=False)
    assert [r.job_id for r in res.broken] == sorted(j.id for j in [g600[0], *li7[:2]])
    transport = {(r["material"], r["temperature_K"]): r for r in res.tables["transport"]}
    assert transport[("gamma_Li3PS4", 600)]["n_replicas"] == 1
    assert transport[("gamma_Li3PS4", 600)]["n_excluded_broken"] == 1
    assert transport[("gamma_Li3PS4", 500)]["n_excluded_broken"] == 0
    assert ("Li7P3S11", 500) not in transport and transport[("Li7P3S11", 700)]["n_replicas"] == 1
    assert {r["material"] for r in res.tables["arrhenius"]} == {"gamma_Li3PS4"}
    assert res.notes[0].startswith("3 of 11 jobs have broken chemistry and are excluded")
    integ = {r["job_id"]: r for r in res.tables["integrity"]}
    assert integ[g600[0].id]["excluded"] and integ[g600[0].id]["first_broken_ps"] == 12.4
    assert not integ[g600[1].id]["excluded"] and integ[g600[1].id]["checked"]
    assert "P 17 has 5 S within 2.6 Å" in res.text
    with h5py.File(tmp_path / "r.h5", "r") as h:
        assert h.attrs["n_jobs_broken"] == 3 and not h.attrs["include_broken"]
        g = h["statepoints/gamma_Li3PS4/x75.00/none/T600K/replica0"]
        assert g.attrs["integrity_broken"] and "P 17" in g.attrs["integrity_reason"]
        assert "integrity/census_per_frame/PS4" in g
    both = gather(project.path, tmp_path / "r2.h5", figures=False, include_broken=True)
    transport = {(r["material"], r["temperature_K"]): r for r in both.tables["transport"]}
    assert transport[("gamma_Li3PS4", 600)]["n_replicas"] == 2
    assert transport[("gamma_Li3PS4", 600)]["n_excluded_broken"] == 0
    assert {r["material"] for r in both.tables["arrhenius"]} == {"gamma_Li3PS4", "Li7P3S11"}
    assert "INCLUDED" in both.notes[0]

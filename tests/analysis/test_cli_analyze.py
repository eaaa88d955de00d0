import json
import subprocess
import sys

import pytest

from lpsens.analysis.synthetic import write_random_walk


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "lpsens", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_analyze_trajectory_json(tmp_path):
    path = write_random_walk(tmp_path / "trajectory.h5", n_frames=4000, n_walkers=32, temperature_K=650.0)
    proc = _cli("analyze", "--trajectory", path, "--temperature-K", 700, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in ("D_cm2_s", "D_err_cm2_s", "sigma_S_cm", "sigma_err_S_cm", "temperature_K", "n_Li", "volume_A3",
                "anion_counts"):
        assert key in out
    assert out["temperature_K"] == 700.0
    assert out["n_Li"] == 32
    assert out["volume_A3"] == pytest.approx(15 * 16 * 17)
    assert set(out["anion_counts"]) >= {"PS4", "P2S7", "P2S6", "other"}
    assert out["D_cm2_s"] == pytest.approx(0.5e-4, rel=0.1)
    assert out["haven_ratio_assumed"] == 1.0 and out["charge_number"] == 1
    assert out["hop_statistics"] == "ok" and out["n_hops"] > 100 and out["uncertain"] == ""
    assert out["D_err_cm2_s"] ** 2 == pytest.approx(out["D_err_blocks_cm2_s"] ** 2 + out["D_err_counting_cm2_s"] ** 2)
    # issue 13: the measured collective conductivity and Haven ratio (independent walkers: H ~ 1)
    for key in ("sigma_collective_S_cm", "sigma_collective_err_S_cm", "haven_ratio", "haven_ratio_err",
                "PS4_tau1_ps", "PS4_tau1_err_ps", "PS4_reorientations_per_ps", "Li_jumps_per_ps_per_ion",
                "Li_residence_time_ps", "paddlewheel_enrichment", "paddlewheel_enrichment_err"):
        assert key in out
    assert out["haven_ratio"] == pytest.approx(1.0, abs=4 * out["haven_ratio_err"])


def test_analyze_default_temperature_from_file(tmp_path):
    path = write_random_walk(tmp_path / "trajectory.h5", n_frames=4000, n_walkers=8, temperature_K=650.0)
    out = json.loads(_cli("analyze", "--trajectory", path, "--json").stdout)
    assert out["temperature_K"] == 650.0
    # random walkers overlap: the text output says the chemistry is broken, and why
    text = _cli("analyze", "--trajectory", path).stdout
    assert "chemistry: integrity: broken at 0 ps (frame 0, 100% of frames broken): " in text


def test_analyze_too_short_is_an_error(tmp_path):
    path = write_random_walk(tmp_path / "trajectory.h5", n_frames=100, n_walkers=4)
    proc = _cli("analyze", "--trajectory", path, "--json")
    assert proc.returncode != 0
    assert proc.stdout == ""
    assert proc.stderr.startswith("Error:") and "too short" in proc.stderr


def test_analyze_not_a_trajectory(tmp_path):
    bad = tmp_path / "x.h5"
    bad.write_text("junk")
    proc = _cli("analyze", "--trajectory", bad, "--json")
    assert proc.returncode != 0 and "Error:" in proc.stderr


def test_analyze_text_flags_a_run_without_hops(tmp_path):
    path = write_random_walk(tmp_path / "trajectory.h5", n_frames=2000, n_walkers=8, D_A2_ps=1e-4)
    proc = _cli("analyze", "--trajectory", path)
    assert proc.returncode == 0, proc.stderr
    assert "0 Li hops by 0 Li: none" in proc.stdout and "[error>value;no-hops]" in proc.stdout

"""Spec validation: every bad input gives one clear error naming file and key, and writes nothing."""

import tomllib

import pytest
from lpsens_testing import MINI_SPEC, REPO, run_cli

from lpsens.campaign import load_campaign
from lpsens.errors import SpecError

GOOD_XML = REPO / "src/lpsens/data/potentials/demo_gap.xml"


def _replace(old, new):
    def mutate(text, tmp_path):
        assert old in text, old
        return text.replace(old, new, 1)

    return mutate


def _append(extra):
    return lambda text, tmp_path: text + extra


def _both(first, second):
    return lambda text, tmp_path: second(first(text, tmp_path), tmp_path)


def _toy_uf3(gap_sha256, key_lines="backend = \"uf3\""):
    """Point the spec at a compiled GAP stand-in in tmp_path whose sidecar names ``gap_sha256``."""
    def mutate(text, tmp_path):
        from uf3_toy import write_toy_uf3

        write_toy_uf3(tmp_path / "toy.uf3", gap_sha256() if callable(gap_sha256) else gap_sha256)
        return text.replace('bundled = "demo"', f'path = "{GOOD_XML}"\nuf3 = "toy.uf3"\n{key_lines}')

    return mutate


def _potential_file(content, label=None):
    def mutate(text, tmp_path):
        (tmp_path / "gap.xml").write_text(content)
        lab = f'\nlabel = "{label}"' if label else ""
        return text.replace('bundled = "demo"', f'path = "gap.xml"{lab}')

    return mutate


# (id, mutation, key named in the message, words the message must contain)
BAD = [
    ("toml-syntax", _replace("[campaign]", "[campaign"), None, "not valid TOML"),
    ("unknown-section", _append("\n[protocl]\ntimestep_fs = 1.0\n"), "protocl", "did you mean 'protocol'?"),
    ("unknown-material", _replace('name = "gamma_Li3PS4"', 'name = "delta_Li3PS4"'), "material[0].name", "allowed"),
    ("glass-x-range", _replace("x_Li2S_mol_pct = 75", "x_Li2S_mol_pct = 90"), "material[1].x_Li2S_mol_pct", "50-80"),
    ("glass-without-x", _replace("x_Li2S_mol_pct = 75", ""), "material[1].x_Li2S_mol_pct", "needs x_Li2S_mol_pct"),
    ("crystal-wrong-x", _replace('name = "gamma_Li3PS4"', 'name = "gamma_Li3PS4"\nx_Li2S_mol_pct = 70'), "material[0].x_Li2S_mol_pct", "75"),
    ("fractional-T", _replace("[600, 700]", "[600.5, 700]"), "material[0].temperatures_K[0]", "whole number"),
    ("empty-T", _replace("[600, 700]", "[]"), "material[0].temperatures_K", "non-empty list"),
    ("duplicate-T", _replace("[600, 700]", "[600, 600]"), "material[0].temperatures_K", "duplicate"),
    ("T-range", _replace("[600, 700]", "[600, 7000]"), "material[0].temperatures_K[1]", "50-3000"),
    ("bad-constraint", _replace('["none", "frozen_S"]', '["none", "frozen_Li"]'), "material[1].constraints[1]", "frozen_P"),
    ("zero-replicas", _replace("replicas = 2", "replicas = 0"), "campaign.replicas", ">= 1"),
    ("seed-string", _replace("seed = 7", 'seed = "seven"'), "campaign.seed", "integer"),
    ("huge-timestep", _replace("timestep_fs = 2.0", "timestep_fs = 10.0"), "protocol.timestep_fs", "0.05-5"),
    ("sampling-not-multiple", _replace("sampling_interval_fs = 20.0", "sampling_interval_fs = 3.0"), "protocol.sampling_interval_fs", "timesteps"),
    ("segment-too-long", _replace("segment_ps = 0.2", "segment_ps = 1.0"), "protocol.segment_ps", "longer than production_ps"),
    ("thermostat", _append('\n[[material]]\nname = "Li7P3S11"\ntemperatures_K = [500]\nprotocol = { thermostat = "berendsen" }\n'), "material[2].protocol.thermostat", "nose_hoover"),
    ("unknown-protocol-key", _replace("segment_ps = 0.2", "segment_ps = 0.2\ntimestep = 1.0"), "protocol.timestep", "did you mean 'timestep_fs'?"),
    ("unknown-material-key", _replace('name = "gamma_Li3PS4"', 'name = "gamma_Li3PS4"\ntemperature = 600'), "material[0].temperature", "did you mean 'temperatures_K'?"),
    ("two-potentials", _replace('bundled = "demo"', 'bundled = "demo"\npath = "x.xml"'), "potential", "exactly one"),
    ("missing-gap", _replace('bundled = "demo"', 'path = "nowhere.xml"'), "potential.path", "does not exist"),
    ("malformed-gap", _potential_file("<GAP_params label='x'><broken"), "potential", "xml"),
    ("wrong-label", _replace('bundled = "demo"', f'path = "{GOOD_XML}"\nlabel = "NO_SUCH_LABEL"'), "potential", "NO_SUCH_LABEL"),
    ("analysis-key", _append("\n[analysis]\nfit_start = 1.0\n"), "analysis.fit_start", "did you mean 'fit_start_ps'?"),
    ("analysis-blocks", _append("\n[analysis]\nn_blocks = 1\n"), "analysis.n_blocks", ">="),
    ("min-atoms-type", _replace("min_atoms = 16", 'min_atoms = "many"'), "system.min_atoms", "integer"),
    ("backend", _replace('bundled = "demo"', 'bundled = "demo"\nbackend = "fast"'), "potential.backend", "uf3"),
    ("ranks-quippy", _replace('bundled = "demo"', 'bundled = "demo"\nbackend = "quippy"\nranks_per_task = 2'),
     "potential.ranks_per_task", "uf3 or native"),
    ("ranks-zero", _replace('bundled = "demo"', 'bundled = "demo"\nranks_per_task = 0'), "potential.ranks_per_task", ">= 1"),
    ("uf3-missing", _replace('bundled = "demo"', 'bundled = "demo"\nuf3 = "nowhere.uf3"'), "potential.uf3", "does not exist"),
    ("uf3-backend-without-file", _replace('bundled = "demo"', f'path = "{GOOD_XML}"\nbackend = "uf3"'),
     "potential.uf3", "compiled"),
    ("uf3-other-gap", _toy_uf3("0" * 64), "potential.uf3", "another GAP"),
    ("npt-quippy", _both(_replace('bundled = "demo"', 'bundled = "demo"\nbackend = "quippy"'),
                         _replace("segment_ps = 0.2", "segment_ps = 0.2\nnpt_ps = 0.1")),
     "material[0].protocol.npt_ps", "uf3 or native"),
    ("relax-cell-type", _replace("segment_ps = 0.2", 'segment_ps = 0.2\nrelax_cell = "yes"'), "protocol.relax_cell", "true or false"),
]


@pytest.mark.parametrize("case", BAD, ids=[b[0] for b in BAD])
def test_bad_spec_gives_clear_error_and_writes_nothing(case, tmp_path):
    _, mutate, key, words = case
    spec = tmp_path / "bad.toml"
    spec.write_text(mutate(MINI_SPEC, tmp_path))
    root = tmp_path / "project"
    proc = run_cli("init", spec, "--root", root)
    assert proc.returncode != 0
    err = proc.stderr.strip()
    assert err.startswith("Error: "), err
    assert len(err.splitlines()) == 1, err  # one line, no traceback
    assert "bad.toml" in err, err  # names the file
    if key:
        assert f"key '{key}'" in err, err
    assert words.lower() in err.lower(), err
    assert proc.stdout == ""
    assert not root.exists(), "a rejected spec must not create the project"


def test_missing_spec_file(tmp_path):
    proc = run_cli("init", tmp_path / "none.toml", "--root", tmp_path / "p")
    assert proc.returncode != 0
    assert "none.toml" in proc.stderr and "no such file" in proc.stderr
    assert not (tmp_path / "p").exists()


def test_mini_spec_expands_to_expected_state_points(mini_spec):
    campaign = load_campaign(mini_spec)
    sps = [sp for sp, _ in campaign.state_points()]
    # gamma: 2 T x 1 constraint x 2 replicas; glass: 1 T x 2 constraints x 2 replicas
    assert len(sps) == 8 == len(set(sps))
    assert {sp.constraint.value for sp in sps if sp.material.value == "glass"} == {"none", "frozen_S"}


@pytest.mark.parametrize("name", ["demo.toml", "paper.toml"])
def test_shipped_specs_are_valid(name):
    campaign = load_campaign(REPO / "signac_project" / name)
    assert sum(1 for _ in campaign.state_points()) > 0


def test_paper_spec_covers_the_study():
    campaign = load_campaign(REPO / "signac_project/paper.toml")
    sps = [sp for sp, _ in campaign.state_points()]
    mats = {sp.material.value for sp in sps}
    assert mats == {"alpha_Li3PS4", "beta_Li3PS4", "gamma_Li3PS4", "Li7P3S11", "glass"}
    glass = [sp for sp in sps if sp.material.value == "glass"]
    assert {sp.x_Li2S_mol_pct for sp in glass} == {67.0, 70.0, 75.0}
    assert {sp.constraint.value for sp in glass} == {"none", "frozen_S", "frozen_P"}
    assert max(sp.replica for sp in glass) + 1 == 20
    temps = {sp.temperature_K for sp in sps}
    assert min(temps) == 400 and max(temps) == 800
    assert all(p.production_ps >= 1000 for _, p in campaign.state_points())


def test_bundled_demo_spec_matches_repository_copy():
    shipped = (REPO / "src/lpsens/data/campaigns/demo.toml").read_text()
    assert shipped == (REPO / "signac_project/demo.toml").read_text()
    tomllib.loads(shipped)


def test_direct_api_raises_spec_error(mini_spec):
    mini_spec.write_text(MINI_SPEC.replace("replicas = 2", "replicas = -3"))
    with pytest.raises(SpecError) as info:
        load_campaign(mini_spec)
    assert info.value.key == "campaign.replicas"
    assert isinstance(info.value, ValueError)


def test_uf3_keys_are_recorded_in_each_job(tmp_path):
    """backend/uf3/ranks_per_task end up in every job's potential identity (the launcher reads ranks_per_task)."""
    import signac
    from uf3_toy import write_toy_uf3

    from lpsens.potential import inspect_potential

    gap_sha = inspect_potential(GOOD_XML).sha256
    toy = write_toy_uf3(tmp_path / "toy.uf3", gap_sha)
    spec = tmp_path / "uf3.toml"
    spec.write_text(MINI_SPEC.replace('bundled = "demo"', f'path = "{GOOD_XML}"\nuf3 = "toy.uf3"\nbackend = "uf3"\nranks_per_task = 2'))
    run_cli("init", spec, "--root", tmp_path / "p", check=True)
    jobs = list(signac.get_project(str(tmp_path / "p")))
    assert jobs
    from lpsens.potential import inspect_uf3

    for job in jobs:
        pot = job.doc["potential"]
        assert pot["backend"] == "uf3" and pot["ranks_per_task"] == 2
        assert pot["uf3_path"] == str(toy.resolve()) and pot["uf3_sha256"] == inspect_uf3(toy).sha256

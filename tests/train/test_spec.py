"""Training spec: defaults, and bad input named by file and key."""

import pytest

from lpsens.errors import SpecError
from lpsens.train.spec import load_training_spec, parse_training_spec

REF = {"reference": {"calculator": "pair_reference:MorsePairs"}}


def test_tiny_spec_parses_and_round_trips(tiny_spec):
    spec = load_training_spec(tiny_spec())
    assert spec.configurations.glass_x_mol_pct == (75.0,)
    assert spec.fit.config_type_sigma == {"dimer": [0.05, 0.5, 0.0, 0.0]}
    assert parse_training_spec(spec.to_dict()).to_dict() == spec.to_dict()


@pytest.mark.parametrize("data, key", [
    ({**REF, "configurations": {"glass_x_mol_pct": [], "crystals": []}}, "configurations.glass_x_mol_pct"),
    ({**REF, "configurations": {"glass_x_mol_pct": [90]}}, "configurations.glass_x_mol_pct"),
    ({**REF, "configurations": {"crystals": ["delta_Li3PS4"]}}, "configurations.crystals"),
    ({**REF, "configurations": {"scan_pairs": ["Li-O"]}}, "configurations.scan_pairs"),
    ({**REF, "fit": {"n_sparse_2b": "many"}}, "fit.n_sparse_2b"),
    ({**REF, "fit": {"e0_eV": {"Li": 1.0}}}, "fit.e0_eV"),
    ({"reference": {"calculator": "SevenNetCalculator"}}, "reference.calculator"),
    ({**REF, "crosscheck": {"calculator": "SevenNetCalculator"}}, "crosscheck.calculator"),
    ({**REF, "crosscheck": {"min_bridged_P_fraction": 1.5}}, "crosscheck.min_bridged_P_fraction"),
    ({**REF, "crosscheck": {"force_rms_eV_A": 0}}, "crosscheck.force_rms_eV_A"),
    ({}, "reference"),
])
def test_bad_spec_names_the_key(data, key):
    with pytest.raises(SpecError) as err:
        parse_training_spec(data, file="x.toml")
    assert err.value.key == key
    assert str(err.value).startswith("x.toml: key")


def test_missing_file_and_bad_toml(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_training_spec(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[training\n")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_training_spec(bad)


def test_contact_core_extra_frames_and_uf3_backend_keys(tiny_spec):
    data = load_training_spec(tiny_spec()).to_dict()
    data["fit"].update(core="contact", core_contact_eV=1.5, compile=True, train_on_dimers=False)
    data["iterate"]["backend"] = "uf3"
    data["gates"].update(backend="uf3", heldout_dft="frames.extxyz", heldout_dft_frames=[150, 200])
    data["configurations"].update(extra_frames="frames.extxyz", extra_frames_range=[0, 140],
                                  extra_frames_energy_offset_eV_atom=-0.058)
    spec = parse_training_spec(data)
    assert spec.fit.core == "contact" and spec.iterate.backend == "uf3" and spec.configurations.extra_frames_range == (0, 140)
    bad = [
        ({"fit": {"core_contact_cutoff_A": {"S-S": 2.2}}}, "fit.core_contact_cutoff_A.S-S"),  # below the 2.3 Å floor
        ({"iterate": {"backend": "lammps"}}, "iterate.backend"),
        ({"fit": {"compile": False}}, "fit.compile"),  # uf3 runs need the compiled twin
        ({"configurations": {"extra_frames_range": [100, 160]}}, "configurations.extra_frames_range"),  # overlaps gates
        ({"fit": {"core_contact_pair_eV": {"S-Se": 3.0}}}, "fit.core_contact_pair_eV.S-Se"),
        ({"fit": {"core_contact_pair_eV": {"S-S": 0.0}}}, "fit.core_contact_pair_eV.S-S"),
        ({"fit": {"untrusted_contact_A": {"S-S": -2.5}}}, "fit.untrusted_contact_A.S-S"),
        ({"fit": {"tetrahedral_prior_eV": -1.0}}, "fit.tetrahedral_prior_eV"),
        ({"iterate": {"coordination_scan_A": [2.4, 1.0]}}, "iterate.coordination_scan_A"),
        ({"iterate": {"coordination_scan_centres": 0}}, "iterate.coordination_scan_centres"),
        ({"iterate": {"stretch_scan_A": [2.6, 4.0]}}, "iterate.stretch_scan_A"),
        ({"gates": {"reference_config_types": ["md", "MD"]}}, "gates.reference_config_types"),
        ({"fit": {"tetrahedral_prior_eV": 3.0, "core": "none"}}, "fit.tetrahedral_prior_eV"),  # stored beside a core
        ({"fit": {"tetrahedral_prior_gamma_A": 0.0}}, "fit.tetrahedral_prior_gamma_A"),
        ({"fit": {"tetrahedral_prior_cutoff_A": 2.0}}, "fit.tetrahedral_prior_cutoff_A"),  # inside the P-S bond
        ({"fit": {"scan_force_radius_A": -1.0}}, "fit.scan_force_radius_A"),
        ({"fit": {"scan_force_radius_A": "4"}}, "fit.scan_force_radius_A"),
        ({"iterate": {"failure_md_steps": 25, "failure_md_every": 10}}, "iterate.failure_md_steps"),
        ({"iterate": {"failure_md_steps": -10}}, "iterate.failure_md_steps"),
        ({"iterate": {"failure_md_steps": 20, "failure_md_every": 0}}, "iterate.failure_md_steps"),
        ({"fit": {"theta_3b_A": 0.0}}, "fit.theta_3b_A"),
        ({"iterate": {"failure_md_max_runs": -1}}, "iterate.failure_md_max_runs"),
        ({"fit": {"theta_2b_A": "1.0"}}, "fit.theta_2b_A"),
        ({"iterate": {"temperatures_K": [-800.0]}}, "iterate.temperatures_K"),
        ({"configurations": {"md_temperatures_K": [0.0]}}, "configurations.md_temperatures_K"),
        ({"gates": {"crystal_temperature_K": -1.0}}, "gates.crystal_temperature_K"),
        ({"iterate": {"minimise_steps": -5}}, "iterate.minimise_steps"),
        ({"configurations": {"n_distorted": -1}}, "configurations.n_distorted"),
        ({"iterate": {"select_failures": -2}}, "iterate.select_failures"),
        ({"iterate": {"md_steps": 0}}, "iterate.md_steps"),
        ({"gates": {"stability_every": 0}}, "gates.stability_every"),
        ({"iterate": {"timestep_fs": 0.0}}, "iterate.timestep_fs"),
        ({"iterate": {"glass_x_mol_pct": [85.0]}}, "iterate.glass_x_mol_pct"),
        ({"iterate": {"materials": ["beta_li3ps4"]}}, "iterate.materials"),
        ({"configurations": {"crystals": ["glass"]}}, "configurations.crystals"),
        ({"gates": {"heldout_dft_frames": [3, 0]}}, "gates.heldout_dft_frames"),
        ({"fit": {"config_type_sigma": {"dimmer": [0.05, 0.5, 0.0, 0.0]}}}, "fit.config_type_sigma.dimmer"),
        ({"iterate": {"failure_path_every": 3}}, "iterate.failure_path_every"),  # md_every = 10
        ({"iterate": {"failure_path_every": 10}}, "iterate.failure_path_every"),
        ({"iterate": {"failure_path_every": -5}}, "iterate.failure_path_every"),
        ({"iterate": {"failure_path_every": True}}, "iterate.failure_path_every"),
        ({"iterate": {"failure_path_every": 5, "backend": "quippy"}}, "iterate.failure_path_every"),
        ({"iterate": {"replicas": 0}}, "iterate.replicas"),
        ({"fit": {"force_atoms_per_frame": -1}}, "fit.force_atoms_per_frame"),
    ]
    assert parse_training_spec({**data, "iterate": {**data["iterate"], "failure_path_every": 5}}).iterate.failure_path_every == 5
    for change, key in bad:
        d = {k: dict(v) for k, v in data.items()}
        for section, values in change.items():
            d[section] = {**d[section], **values}
        with pytest.raises(SpecError) as err:
            parse_training_spec(d)
        assert err.value.key == key


def test_unknown_key_or_section_suggests_the_closest():
    with pytest.raises(SpecError) as err:
        parse_training_spec({**REF, "fit": {"sigmas": [1]}}, file="x.toml")
    assert str(err.value).startswith("x.toml: unknown key 'fit.sigmas' — did you mean 'sigma'? Valid keys: ")
    with pytest.raises(SpecError) as err:
        parse_training_spec({**REF, "gate": {}}, file="x.toml")
    assert "unknown key 'gate' — did you mean 'gates'?" in str(err.value)



def test_list_keys_with_an_empty_default_read_from_toml(tiny_spec):
    """[gates] reference_config_types (default []) takes strings from a TOML file, and a
    misspelt config_type_sigma kind is named with the closest."""
    path = tiny_spec()
    path.write_text(path.read_text().replace("[gates]\n", '[gates]\nreference_config_types = ["md", "selected"]\n', 1))
    assert load_training_spec(path).gates.reference_config_types == ("md", "selected")
    path.write_text(path.read_text().replace("{{dimer = ", "{{dimmer = ").replace("{dimer = ", "{dimmer = "))
    with pytest.raises(SpecError, match="did you mean 'dimer'") as err:
        load_training_spec(path)
    assert err.value.key == "fit.config_type_sigma.dimmer"

"""Failure detection and diversity selection on MD frames."""

import numpy as np
from ase import Atoms

from lpsens.chemistry import unit_census
from lpsens.structures import build_structure
from lpsens.train.selection import cur_select, frame_failures, select, untrusted_contacts


def _gamma():
    a = build_structure("gamma_Li3PS4", 75.0, 0, min_atoms=64)
    return Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=True)


def _census(a):
    return unit_census(a.numbers, a.positions, a.cell.array).counts


def _fuse_two_s(a):
    b = a.copy()
    s = np.nonzero(b.numbers == 16)[0]
    # put an S of another unit 1.6 Å from the first S: an S-S "bond" and a 5-fold P nearby
    far = s[np.argmax(b.get_distances(s[0], s, mic=True))]
    b.positions[far] = b.positions[s[0]] + [1.6, 0, 0]
    return b


def test_intact_crystal_has_no_failures():
    a = _gamma()
    assert frame_failures(a, _census(a)) == []


def test_fused_atoms_and_broken_units_are_found():
    a = _gamma()
    bad = _fuse_two_s(a)
    reasons = frame_failures(bad, _census(a))
    assert any(" S-S " in r or ("S" in r and "apart" in r) for r in reasons)
    assert any(r.startswith("unit census") for r in reasons)
    b = a.copy()
    p = np.nonzero(b.numbers == 15)[0][0]
    s_near = np.argsort(b.get_distances(p, range(len(b)), mic=True))[1:3]
    b.positions[s_near] += 0.5 * b.get_distances(p, s_near, mic=True, vector=True)  # P keeps 2 S
    assert any("has 2 S within" in r for r in frame_failures(b))


def test_broken_frame_selected_first_then_diverse():
    a = _gamma()
    frames = []
    rng = np.random.default_rng(0)
    for k in range(6):
        f = a.copy()
        f.positions += rng.normal(0, 0.03, f.positions.shape)
        f.info.update(run="r", md_step=10 * k)
        frames.append(f)
    frames[4] = _fuse_two_s(frames[4])
    frames[4].info.update(run="r", md_step=40)
    chosen = select(frames, n_failures=4, n_diverse=2, census_by_run={"r": _census(a)})
    # the two intact frames leading into the failure, then the failure, then diverse ones
    assert [(c.index, c.reason.split()[0]) for c in chosen[:3]] == [(3, "approaching"), (2, "approaching"), (4, "failure:")]
    assert [c.reason.startswith("diverse") for c in chosen[3:]] == [True, True]
    assert not {2, 3, 4} & {c.index for c in chosen[3:]}
    plain = select(frames, n_failures=4, n_diverse=0, census_by_run={"r": _census(a)}, approach=0)
    assert [c.index for c in plain] == [4]


def test_cur_prefers_the_odd_frame_over_duplicates():
    a = _gamma()
    frames = [a.copy() for _ in range(5)] + [_fuse_two_s(a)]
    assert cur_select(frames, 1) == [5]


def test_cur_thins_long_runs_to_evenly_spaced_candidates():
    a = _gamma()
    frames = [a.copy() for _ in range(9)]
    frames[4] = _fuse_two_s(a)   # on the grid of 5 evenly spaced candidates (0, 2, 4, 6, 8)
    frames[5] = _fuse_two_s(a)   # off it: a long run's frames are not all fingerprinted
    assert cur_select(frames, 1, max_candidates=5) == [4]
    assert cur_select(frames, 1, max_candidates=5, exclude={4}) != [5]


def test_energy_jump_is_a_failure_but_not_the_heating_from_the_minimised_start():
    a = _gamma()
    frames = []
    for k, e in enumerate([-5.00, -4.90, -4.89, -4.80, -4.79]):  # 0->10: heating; 20->30: a spike
        f = a.copy()
        f.info.update(run="r", md_step=10 * k, energy_per_atom_eV=e)
        frames.append(f)
    chosen = select(frames, n_failures=4, n_diverse=0, approach=0)
    assert [(c.index, c.reason.split(":")[0]) for c in chosen] == [(3, "failure")]
    assert "energy jump +0.090" in chosen[0].reason


def test_failures_spread_over_runs_broken_chemistry_first():
    """A run whose census drifts in every frame does not use up the budget: each run's first
    failure comes first, broken chemistry before a census change alone."""
    a = _gamma()
    drift = _census(a) | {"PS4": _census(a)["PS4"] + 1}  # run "a" never matches its census
    frames = []
    for k in range(5):
        f = a.copy()
        f.info.update(run="a", md_step=10 * k)
        frames.append(f)
    for k in range(3):
        f = a.copy() if k < 2 else _fuse_two_s(a)
        f.info.update(run="b", md_step=10 * k)
        frames.append(f)
    census = {"a": drift, "b": _census(a)}
    chosen = select(frames, n_failures=8, n_diverse=0, census_by_run=census, approach=0)
    assert [c.index for c in chosen] == [7, 0, 1]  # b's broken frame, then a's first two (a quarter of 8 per run)
    only = select(frames, n_failures=1, n_diverse=0, census_by_run=census, approach=0)
    assert [c.index for c in only] == [7]


def test_broken_frames_of_every_run_before_earlier_census_changes():
    """Runs whose census changes long before they break: the broken frames (what the gates
    fail on) are taken before any census change."""
    a = _gamma()
    drift = _census(a) | {"PS4": _census(a)["PS4"] + 1}
    frames = []
    for run in ("a", "b"):
        for k in range(4):
            f = a.copy() if k < 3 else _fuse_two_s(a)
            f.info.update(run=run, md_step=10 * k)
            frames.append(f)
    chosen = select(frames, n_failures=4, n_diverse=0, census_by_run={"a": drift, "b": drift}, approach=0)
    assert [c.index for c in chosen] == [3, 7, 0, 4]


def test_a_bond_the_reference_holds_is_told_from_one_it_pushes_apart():
    """Two S 2.2 Å apart: the Morse reference (S-S minimum at 3.4 Å) pushes them apart, a
    reference that bonds S at 2.05 Å holds them; only the latter is named."""
    from pair_reference import BondingSulfur, MorsePairs

    from lpsens.train.labelling import label
    from lpsens.train.selection import bonds_the_reference_holds

    a = Atoms("S2", positions=[[5.0, 5.0, 5.0], [7.2, 5.0, 5.0]], cell=[12.0, 12.0, 12.0], pbc=True)
    assert bonds_the_reference_holds(label(a, MorsePairs())) == []
    held = bonds_the_reference_holds(label(a, BondingSulfur()))
    assert len(held) == 1 and "the reference holds it" in held[0] and "2.20" in held[0]


def test_untrusted_contacts_flag_pairs_below_the_limit_only():
    a = _gamma()
    s = np.nonzero(a.numbers == 16)[0]
    shortest = min(a.get_distances(k, [m for m in s if m != k], mic=True).min() for k in s)
    assert untrusted_contacts(a, {"S-S": shortest - 0.05}) == []  # the intact crystal's own S-S stay trusted
    assert untrusted_contacts(a, {}) == []
    b = Atoms("S2Li", positions=[[1, 1, 1], [3.4, 1, 1], [6, 6, 6]], cell=[10, 10, 10], pbc=True)  # S-S 2.4 Å
    reasons = untrusted_contacts(b, {"S-S": 2.5, "Li-S": 2.0})
    assert reasons == ["S-S contact 2.40 A (S 0, S 1) below the reference's trusted 2.5 A"]
    assert untrusted_contacts(b, {"S-S": 2.3}) == []
    assert frame_failures(b) == []  # 2.4 Å is no broken chemistry: the limit is about the reference, not the frame

"""Anion unit templates: bond lengths, angles, charges."""

import numpy as np
import pytest

from lpsens.structures.anions import AnionKind, anion_template


def _dist(t, a, b):
    return float(np.linalg.norm(t.positions_A[a] - t.positions_A[b]))


def test_ps4_is_a_regular_tetrahedron():
    t = anion_template("PS4")
    d = [_dist(t, 0, k) for k in range(1, 5)]
    np.testing.assert_allclose(d, 2.05, atol=1e-9)
    s = t.positions_A[1:] - t.positions_A[0]
    cos = [np.dot(s[a], s[b]) / 2.05**2 for a in range(4) for b in range(a + 1, 4)]
    np.testing.assert_allclose(np.degrees(np.arccos(cos)), 109.47, atol=0.01)


def test_p2s7_bridge_geometry():
    t = anion_template(AnionKind.P2S7)
    assert t.symbols[:3] == ("P", "P", "S")
    assert _dist(t, 0, 2) == pytest.approx(2.10) and _dist(t, 1, 2) == pytest.approx(2.10)
    u, v = t.positions_A[0] - t.positions_A[2], t.positions_A[1] - t.positions_A[2]
    angle = np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v)))
    assert 105.0 <= angle <= 110.0 + 1e-9
    # every P has four S neighbours within 2.4 A, the two halves do not clash
    d = np.linalg.norm(t.positions_A[:, None] - t.positions_A[None], axis=2)
    for p in (0, 1):
        assert (d[p, 2:] < 2.4).sum() == 4
    s = np.arange(2, 9)
    ds = d[np.ix_(s, s)][np.triu_indices(7, 1)]
    assert ds.min() > 3.0


def test_p2s6_dumbbell_is_p_p_bonded():
    t = anion_template(AnionKind.P2S6)
    assert _dist(t, 0, 1) == pytest.approx(2.28)
    assert t.p_oxidation == 4 and t.charge == -4


@pytest.mark.parametrize("kind", list(AnionKind))
def test_unit_charge_balances_its_li(kind):
    t = anion_template(kind)
    charge = t.n_p * t.p_oxidation - 2 * t.n_s
    assert charge == t.charge == -t.n_li
    np.testing.assert_allclose(t.positions_A.mean(axis=0), 0.0, atol=1e-12)

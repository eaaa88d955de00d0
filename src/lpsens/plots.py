"""The paper's figures (Staacke et al. 2022, Figs. 1-4) from gathered results; PNG and PDF.

Figures are drawn on :class:`matplotlib.figure.Figure` objects (Agg/PDF canvases, no pyplot
state). Missing groups (a small demo campaign) give a panel note or a skipped figure, never an error.
"""

from __future__ import annotations

import math
from collections import defaultdict
from functools import partial
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from lpsens.analysis.composition import ANION_KEYS
from lpsens.analysis.paper import (
    SIGMA300_HIGH_S_CM,
    SIGMA300_LOW_RANGE_S_CM,
    SS_PEAK_A,
    SS_PEAK_GONE_ABOVE_K,
)
from lpsens.analysis.rdf import R_MAX_RULE_MINIMUM_IMAGE
from lpsens.vocabulary import LI3PS4_PHASES, series_label

__all__ = ["make_figures", "plot_arrhenius", "plot_rdf", "plot_anions", "plot_volume_frozen", "LI3PS4_PHASES"]



def _save(fig, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    for ext in ("png", "pdf"):
        path = stem.with_suffix(f".{ext}")
        tmp = path.with_name(f".{path.stem}.tmp.{ext}")
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        tmp.replace(path)
        out.append(path)
    return out


def _note(ax, text):
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9, color="0.4", wrap=True)


def plot_arrhenius(tables, stem: Path) -> tuple[list[Path], list[str]]:
    """Fig. 1: log10 sigma against 1000/T for every unconstrained material, with the fits to 300 K."""
    rows = [r for r in tables.get("transport", []) if r["constraint"] == "none"]
    if not rows:
        return [], ["Fig. 1 (Arrhenius) skipped: no unconstrained results"]
    fits = {(r["material"], r["x_Li2S_mol_pct"]): r for r in tables.get("arrhenius", []) if r["constraint"] == "none"}
    wide = len({(r["material"], r["x_Li2S_mol_pct"]) for r in rows}) > 3  # legend beside the plot
    fig = Figure(figsize=(8.0 if wide else 5.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    groups = defaultdict(list)
    for r in rows:
        groups[(r["material"], r["x_Li2S_mol_pct"])].append(r)
    missing = []
    for i, ((mat, x), rs) in enumerate(sorted(groups.items())):
        color = f"C{i % 10}"
        T = np.array([r["temperature_K"] for r in rs], float)
        s = np.array([r["sigma_S_cm"] for r in rs])
        e = np.array([r["sigma_sem_S_cm"] for r in rs])
        flags = [r.get("flags", "") for r in rs]
        upper = np.array(["no-hops" in f for f in flags])  # no hop seen: an upper limit, not a point
        vague = np.array(["error>value" in f for f in flags]) & ~upper
        firm = (s > 0) & ~upper & ~vague
        lo = np.where(s - e > 0, s - e, s * 0.5)
        ax.errorbar(1000 / T[firm], s[firm], yerr=[s[firm] - lo[firm], e[firm]], fmt="o", color=color,
                    label=series_label(mat, x), capsize=2)
        pos = (s > 0) & vague  # error > value: hollow, with the upper end of the bar only
        if pos.any():
            ax.errorbar(1000 / T[pos], s[pos], yerr=[np.zeros(pos.sum()), e[pos]], fmt="o", mfc="none", color=color,
                        capsize=2, label=None if firm.any() else series_label(mat, x))
        lim = upper & (s + e > 0)
        if lim.any():
            ax.errorbar(1000 / T[lim], (s + e)[lim], yerr=0.3 * (s + e)[lim], uplims=True, fmt="v", color=color,
                        mfc="none", label=None if (firm.any() or pos.any()) else series_label(mat, x))
        fit = fits.get((mat, x))
        if fit is not None:
            inv = np.linspace(1000 / T.max(), 1000 / T.min(), 50)
            c300 = fit.get("sigma_300K_S_cm", math.nan)
            if math.isfinite(c300):
                inv = np.linspace(1000 / T.max(), 1000 / 300.0, 50)
            y = fit["ln_prefactor_S_K_cm"] - fit["Ea_eV"] / (8.617333262e-5) * inv / 1000
            ax.plot(inv, np.exp(y) / (1000 / inv), "--", color=color, lw=1)
            if math.isfinite(c300):
                ax.errorbar([1000 / 300], [c300], yerr=[[c300 - fit["sigma_300K_ci95_low_S_cm"]],
                                                         [fit["sigma_300K_ci95_high_S_cm"] - c300]],
                            fmt="s", mfc="none", color=color, capsize=2)
            else:
                missing.append(f"{series_label(mat, x)}: {fit.get('extrapolation', 'not extrapolated')}")
    if missing:  # the figure says why an extrapolation is absent, as the table does
        ax.text(0.02, 0.02, "no 300 K value for\n" + "\n".join(missing), transform=ax.transAxes, fontsize=6,
                color="0.3", va="bottom")
    # the paper's 300 K values (Staacke et al. 2022), see lpsens.analysis.paper
    x300 = 1000 / 300.0
    ax.plot([x300], [SIGMA300_HIGH_S_CM], marker="*", ms=11, color="k", ls="none",
            label=f"paper: alpha, Li7P3S11 up to {SIGMA300_HIGH_S_CM:.1e}")
    ax.plot([x300 + 0.04] * 2, SIGMA300_LOW_RANGE_S_CM, color="0.4", lw=4, alpha=0.6, solid_capstyle="butt",
            label=f"paper: beta, gamma {SIGMA300_LOW_RANGE_S_CM[0]:.0e}-{SIGMA300_LOW_RANGE_S_CM[1]:.0e}")
    _arrhenius_dynamics(ax, tables, sorted(groups))
    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel(r"$\sigma$ (S/cm)")
    ax.set_title("Arrhenius plot (open squares: 300 K extrapolation, 95 % CI; open circles: error > value;\n"
                 "triangles: no Li hop, upper limit; black: paper at 300 K)", fontsize=8)
    if wide:  # many materials (the demo has 6): the legend beside the plot, not over the points
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    else:
        ax.legend(fontsize=7)
    return _save(fig, stem), []


def _arrhenius_dynamics(ax, tables, keys):
    """Fig. 1 additions (issue 13): collective sigma (open triangles) and a detected slope break (band)."""
    dyn = defaultdict(list)
    for r in tables.get("dynamics", []):
        if r["constraint"] == "none" and np.isfinite(r.get("sigma_collective_S_cm", np.nan)) \
                and r["sigma_collective_S_cm"] > 0:
            dyn[(r["material"], r["x_Li2S_mol_pct"])].append(r)
    trans = {(r["material"], r["x_Li2S_mol_pct"]): r for r in tables.get("transition", []) if r["constraint"] == "none"}
    for i, key in enumerate(keys):
        color = f"C{i % 10}"
        rs = dyn.get(key, [])
        if rs:
            T = np.array([r["temperature_K"] for r in rs], float)
            s = np.array([r["sigma_collective_S_cm"] for r in rs])
            e = np.nan_to_num(np.array([r["sigma_collective_sem_S_cm"] for r in rs]))
            ax.errorbar(1000 / T, s, yerr=[np.minimum(e, 0.5 * s), e], fmt="^", mfc="none", color=color, capsize=2,
                        label=f"{series_label(*key)} collective")
        t = trans.get(key)
        if t is not None and t.get("arrhenius_break_found") is True:
            ax.axvspan(1000 / t["break_T_high_K"], 1000 / t["break_T_low_K"], color=color, alpha=0.12, lw=0)
            ax.axvline(1000 / t["break_T_K"], color=color, ls=":", lw=1)


def _rdf_peak_inset(ax, row):
    """Fig. 2 addition (issue 13): prominence of the 4.3 A S-S peak against T with the vanishing T*."""
    pairs = [p.split(":") for p in str(row.get("rdf_peak_prominence", "")).split() if ":" in p]
    if not pairs:
        return
    T = np.array([float(a) for a, _ in pairs])
    h = np.array([float(b) for _, b in pairs])
    ax.axvline(SS_PEAK_A, color="0.6", ls=":", lw=0.8)
    ins = ax.inset_axes([0.07, 0.55, 0.34, 0.38])  # upper left: g_SS is ~0 below 3.3 A
    ins.plot(T, h, "o-", ms=3, lw=0.8, color="k")
    Ts = row.get("rdf_peak_vanish_T_K")
    if Ts is not None and np.isfinite(Ts):
        ins.axvspan(row["rdf_peak_vanish_T_low_K"], row["rdf_peak_vanish_T_high_K"], color="C3", alpha=0.2, lw=0)
        ins.axvline(Ts, color="C3", lw=0.8)
        ins.set_title(f"{SS_PEAK_A:g} Å peak gone at {Ts:.0f} K", fontsize=6)
    ins.tick_params(labelsize=5)
    ins.set_xlabel("T (K)", fontsize=5)
    ins.set_ylabel("prominence", fontsize=5)


def plot_rdf(records, stem: Path, transition=None) -> tuple[list[Path], list[str]]:
    """Fig. 2: S-S RDF against temperature, one panel per Li3PS4 phase (unconstrained runs); with the
    ``transition`` table rows, an inset of the 4.3 A peak prominence against T and where it vanishes."""
    inset = {r["material"]: r for r in (transition or []) if r["constraint"] == "none"}
    by_phase = defaultdict(lambda: defaultdict(list))
    for rec in records:
        sp = rec.statepoint
        if sp["material"] in LI3PS4_PHASES and sp["constraint"] == "none" and "rdf_SS" in rec.result:
            by_phase[sp["material"]][int(sp["temperature_K"])].append(rec.result["rdf_SS"])
    if not by_phase:
        return [], ["Fig. 2 (S-S RDF) skipped: no unconstrained Li3PS4 results"]
    notes = [f"Fig. 2: no data for {p}" for p in LI3PS4_PHASES if p not in by_phase]
    fig = Figure(figsize=(4 * len(LI3PS4_PHASES), 3.4), layout="constrained")
    axes = fig.subplots(1, len(LI3PS4_PHASES), squeeze=False)[0]
    for ax, phase in zip(axes, LI3PS4_PHASES, strict=True):
        ax.set_title(phase.replace("_", "-"), fontsize=10)
        ax.set_xlabel("r (Å)")
        if phase not in by_phase:
            _note(ax, "no data")
            continue
        temps = sorted(by_phase[phase])
        r_max = min(float(c.get("r_max_A") or c["r_A"][-1]) for cs in by_phase[phase].values() for c in cs)
        ax.set_xlabel("r (Å)\n" + _r_max_note(r_max, by_phase[phase].values()), fontsize=7)  # below the axis: no overlap
        if phase != "alpha_Li3PS4":
            ax.axvline(SS_PEAK_A, color="k", ls=":", lw=0.8)
            gone = "-".join(f"{t:g}" for t in SS_PEAK_GONE_ABOVE_K)
            ax.text(SS_PEAK_A, 0.02, f"paper: {SS_PEAK_A} Å peak, \ngone above {gone} K ",
                    transform=ax.get_xaxis_transform(), fontsize=6, va="bottom", ha="right")
            if r_max < SS_PEAK_A:
                notes.append(f"Fig. 2: {phase} RDF stops at r_max = {r_max:.2f} Å, before the paper's "
                             f"{SS_PEAK_A} Å S-S peak; wider cells are needed to see it")
        for k, T in enumerate(temps):
            curves = by_phase[phase][T]
            n = min(len(c["r_A"]) for c in curves)
            r = np.asarray(curves[0]["r_A"][:n])
            g = np.mean([np.asarray(c["g"][:n]) for c in curves], axis=0)
            color = _ramp(k, len(temps))
            ax.plot(r, g, color=color, lw=1, label=f"{T} K")
        ax.axhline(1.0, color="0.7", lw=0.5)
        ax.legend(fontsize=7, loc="upper right")
        if phase in inset:
            _rdf_peak_inset(ax, inset[phase])
    axes[0].set_ylabel(r"$g_{SS}(r)$")
    return _save(fig, stem), notes


def _r_max_note(r_max, curve_lists) -> str:
    """Why the RDF stops where it does (default rule: minimum image, half the narrowest cell width)."""
    rules = {c.get("r_max_rule", R_MAX_RULE_MINIMUM_IMAGE) for cs in curve_lists for c in cs}
    if rules == {R_MAX_RULE_MINIMUM_IMAGE}:
        reach = f"past the {SS_PEAK_A} Å S-S peak" if r_max > SS_PEAK_A + 0.3 else f"short of the {SS_PEAK_A} Å S-S peak"
        return f"r_max = {r_max:.2f} Å = half the narrowest cell width ({2 * r_max:.1f} Å),\n{reach}"
    return f"r_max = {r_max:.2f} Å: " + "; ".join(sorted(rules))


def _ramp(k, n):
    import matplotlib

    return matplotlib.colormaps["coolwarm"](k / max(n - 1, 1))


def plot_anions(records, stem: Path) -> tuple[list[Path], list[str]]:
    """Fig. 3: violins of the per-frame anion shares (PS4, P2S7, P2S6) against temperature,
    one row per material (unconstrained runs; replicas pooled)."""
    data = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for rec in records:
        sp = rec.statepoint
        per = rec.result.get("anion_counts_per_frame")
        if sp["constraint"] != "none" or not per:
            continue
        n = len(next(iter(per.values())))
        counts = np.array([per.get(k, [0] * n) for k in ANION_KEYS], float)
        total = counts.sum(axis=0)
        total[total == 0] = np.nan
        for k, key in enumerate(ANION_KEYS[:3]):
            data[(sp["material"], float(sp["x_Li2S_mol_pct"]))][key][int(sp["temperature_K"])].extend(
                (100 * counts[k] / total)[np.isfinite(total)].tolist())
    if not data:
        return [], ["Fig. 3 (anion composition) skipped: no unconstrained results with anion counts"]
    mats = sorted(data)
    fig = Figure(figsize=(10, 2.6 * len(mats)), layout="constrained")
    axes = fig.subplots(len(mats), 3, squeeze=False)
    for i, m in enumerate(mats):
        for j, key in enumerate(ANION_KEYS[:3]):
            ax = axes[i, j]
            series = data[m][key]
            temps = sorted(series)
            vals = [np.asarray(series[T]) for T in temps]
            spread = [v for v in vals if v.size > 1 and np.ptp(v) > 0]
            if spread:
                pos = [k for k, v in enumerate(vals) if v.size > 1 and np.ptp(v) > 0]
                ax.violinplot(spread, positions=pos, showmeans=True, widths=0.8)
            for k, v in enumerate(vals):  # constant series have no density: mark the value
                if v.size and (v.size == 1 or np.ptp(v) == 0):
                    ax.plot([k - 0.3, k + 0.3], [v[0], v[0]], color="C0")
            ax.set_xticks(range(len(temps)), [str(T) for T in temps])
            ax.set_ylim(-5, 105)
            if i == len(mats) - 1:
                ax.set_xlabel("T (K)")
            if j == 0:
                ax.set_ylabel(f"{series_label(*m)}\nshare of anions (%)", fontsize=8)
            ax.set_title(key if i == 0 else "", fontsize=10)
    return _save(fig, stem), []


def plot_volume_frozen(tables, stem: Path) -> tuple[list[Path], list[str]]:
    """Fig. 4: (a) Li accessible fraction against T; (b) conductivities of frozen-S / frozen-P runs
    next to the unconstrained ones."""
    vol = tables.get("accessible_volume", [])
    transport = tables.get("transport", [])
    if not vol and not transport:
        return [], ["Fig. 4 skipped: no results"]
    notes = []
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax_v, ax_f = fig.subplots(1, 2)
    groups = defaultdict(list)
    for r in vol:
        if r["constraint"] == "none":
            groups[(r["material"], r["x_Li2S_mol_pct"])].append(r)
    for i, (m, rs) in enumerate(sorted(groups.items())):
        T = [r["temperature_K"] for r in rs]
        f = [100 * r["accessible_fraction"] for r in rs]
        e = [100 * r["accessible_fraction_sem"] if math.isfinite(r["accessible_fraction_sem"]) else 0 for r in rs]
        ax_v.errorbar(T, f, yerr=e, fmt="o-", color=f"C{i % 10}", label=series_label(*m), capsize=2)
    if groups:
        ax_v.legend(fontsize=7)
    else:
        _note(ax_v, "no unconstrained accessible-volume data")
        notes.append("Fig. 4a: no accessible-volume data")
    ax_v.set_xlabel("T (K)")
    ax_v.set_ylabel("Li accessible volume (% of cell)")
    frozen = [r for r in transport if r["constraint"] != "none"]
    if not frozen:
        _note(ax_f, "no frozen-lattice runs")
        notes.append("Fig. 4b: no frozen-lattice runs")
    else:
        mats = sorted({(r["material"], r["x_Li2S_mol_pct"]) for r in frozen})
        style = {"none": ("o", "-"), "frozen_S": ("s", "--"), "frozen_P": ("^", ":")}
        for i, m in enumerate(mats):
            for con, (marker, ls) in style.items():
                rs = sorted((r for r in transport if (r["material"], r["x_Li2S_mol_pct"]) == m
                             and r["constraint"] == con and r["sigma_S_cm"] > 0), key=lambda r: r["temperature_K"])
                if not rs:
                    continue
                inv = [1000 / r["temperature_K"] for r in rs]
                ax_f.errorbar(inv, [r["sigma_S_cm"] for r in rs], yerr=[r["sigma_sem_S_cm"] for r in rs],
                              marker=marker, ls=ls, color=f"C{i % 10}", label=f"{series_label(*m)} {con}", capsize=2)
        ax_f.set_yscale("log")
        ax_f.legend(fontsize=6)
    ax_f.set_xlabel("1000 / T (1/K)")
    ax_f.set_ylabel(r"$\sigma$ (S/cm)")
    return _save(fig, stem), notes


def make_figures(records, tables, directory) -> tuple[list[Path], list[str]]:
    """Draw Figs. 1-4 into ``directory`` (``fig1_arrhenius.png/.pdf`` ...); returns (paths, notes)."""
    directory = Path(directory)
    paths, notes = [], []
    for fn, args, name in ((plot_arrhenius, (tables,), "fig1_arrhenius"),
                           (partial(plot_rdf, transition=tables.get("transition")), (records,), "fig2_rdf_SS"),
                           (plot_anions, (records,), "fig3_anions"),
                           (plot_volume_frozen, (tables,), "fig4_volume_frozen")):
        p, n = fn(*args, directory / name)
        paths += p
        notes += n
    return paths, notes

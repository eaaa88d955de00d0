"""GAP potential files: validation in Python, hashing, and a per-process calculator cache.

quippy ends the whole process on a malformed XML (exit status 0!) or a missing file, and a GAP
asked about an element it was not fitted for silently returns zero forces. Every check that can
be done without quippy is therefore done here, before quippy ever opens the file.
"""

from __future__ import annotations

import hashlib
import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import ase.data

from lpsens.errors import PotentialError

__all__ = [
    "PotentialInfo",
    "demo_potential_path",
    "demo_uf3_path",
    "inspect_potential",
    "check_species",
    "load_calculator",
    "clear_calculator_cache",
]

_DATA = Path(__file__).resolve().parent.parent / "data" / "potentials"
# Keys in a GAP descriptor string that name the species it applies to.
_Z_KEY = re.compile(r"\b(?:Z|Z1|Z2|Z3|species_Z)\s*=\s*(\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"|\S+)")


@dataclass(frozen=True)
class PotentialInfo:
    """A validated GAP potential file.

    Attributes
    ----------
    path
        Absolute path of the XML file.
    label
        The GAP label (``GAP_params label=...``); selects the GAP inside the file.
    species
        Atomic numbers the GAP was fitted for, sorted.
    sha256
        Hex digest over the XML and the sparse-point files it references (in the order referenced).
    """

    path: Path
    label: str
    species: tuple[int, ...]
    sha256: str
    #: ``label`` of the file's top-level ``<Potential>`` when it is not the GAP alone (a ``Sum``
    #: of a core and the GAP, written by gap_fit with ``core_param_file``); else None.
    core_xml_label: str | None = None

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(ase.data.chemical_symbols[z] for z in self.species)

    @property
    def quip_init_args(self) -> str:
        """QUIP initialisation string for exactly what the file defines (quippy and ``pair_style quip``).

        A GAP fitted on a core potential is stored as a top-level ``Sum`` Potential of the core
        and the GAP; ``IP GAP label=...`` would silently drop the core (libAtoms/QUIP#307), so
        such a file is initialised through its top-level Potential.
        """
        if self.core_xml_label is not None:
            return f"Potential xml_label={self.core_xml_label}"
        return f"IP GAP label={self.label}"


def demo_potential_path() -> Path:
    """Path of the demo GAP bundled with lpsens (``lpsens/data/potentials/demo_gap.xml``)."""
    return _DATA / "demo_gap.xml"


def demo_uf3_path() -> Path:
    """The bundled demo GAP compiled to LAMMPS pair_style uf3 (``demo_gap.uf3`` + ``.uf3.json``)."""
    return _DATA / "demo_gap.uf3"


def _parse_species(text: str) -> set[int]:
    species: set[int] = set()
    for match in _Z_KEY.finditer(text):
        for token in re.findall(r"\d+", match.group(1)):
            species.add(int(token))
    return species


def inspect_potential(path, label: str | None = None) -> PotentialInfo:
    """Validate a GAP XML file without quippy and describe it.

    Parameters
    ----------
    path
        GAP XML file (as written by ``gap_fit``).
    label
        GAP label to use; ``None`` picks the only (or first) ``GAP_params`` in the file.

    Returns
    -------
    PotentialInfo

    Raises
    ------
    PotentialError
        Missing or unreadable file, malformed XML, unknown label, no species information,
        or a referenced sparse-point file that does not exist. The message names the file,
        the key and the fix.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise PotentialError(
            "GAP file not found; give the path of an existing GAP XML (campaign key potential.path)",
            file=path,
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PotentialError(f"cannot read GAP file ({exc.strerror})", file=path) from None
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise PotentialError(
            f"not a well-formed XML file ({exc}); re-export it with gap_fit or restore it from a backup",
            file=path,
        ) from None

    if not raw.isascii():
        # QUIP's FoX parser stops at any non-ASCII byte and quippy then ends the process with
        # status 0 (e.g. an "Å" in a training frame's info that gap_fit copied into <XYZ_data>).
        at = next(k for k, b in enumerate(raw) if b > 127)
        line = raw[:at].count(b"\n") + 1
        raise PotentialError(
            f"non-ASCII byte at line {line} (byte {at}); QUIP's XML parser cannot read it. Remove it (or the "
            "<XYZ_data> copy of the training set it sits in) and check the file again",
            file=path,
            key="potential.path",
        )
    params = [el for el in root.iter("GAP_params")]
    if not params:
        raise PotentialError(
            "no <GAP_params> element: this is not a GAP potential file written by gap_fit",
            file=path,
        )
    labels = [el.get("label") for el in params]
    if label is None:
        gap = params[0]
        label = gap.get("label")
        if not label:
            raise PotentialError("the <GAP_params> element has no label attribute", file=path)
    else:
        matches = [el for el in params if el.get("label") == label]
        if not matches:
            raise PotentialError(
                f"no GAP with label {label!r}; labels in the file: {', '.join(map(str, labels))}; "
                "set potential.label (lpsens potential compile: --label) to one of them, or omit it to use the first",
                file=path,
            )
        gap = matches[0]

    species: set[int] = set()
    unrestricted = False
    for desc in gap.iter("descriptor"):
        found = _parse_species(desc.text or "")
        species |= found
        if not found:
            unrestricted = True  # a descriptor without Z keys applies to every element
    if unrestricted or not species:
        # Fall back to the elements with a fitted (non-zero) e0.
        for e0 in gap.iter("e0"):
            try:
                if float(e0.get("value", "0")) != 0.0:
                    species.add(int(e0.get("Z")))
            except (TypeError, ValueError):
                continue
    species = {z for z in species if 0 < z < len(ase.data.chemical_symbols)}
    if not species:
        raise PotentialError(
            f"cannot tell which elements GAP {label!r} covers (no Z/Z1/Z2/species_Z in its descriptors "
            "and no non-zero e0); fit it with explicit species",
            file=path,
        )

    digest = hashlib.sha256(raw)
    for coords in gap.iter("gpCoordinates"):
        name = coords.get("sparseX_filename")
        if not name:
            continue  # sparse points embedded in the XML
        sparse = path.parent / name
        if not sparse.is_file():
            raise PotentialError(
                f"referenced sparse-point file {name!r} (gpCoordinates sparseX_filename) is missing; "
                "keep the files gap_fit wrote next to the XML together",
                file=path,
            )
        digest.update(sparse.read_bytes())

    core_label = None
    for pot in root.iter("Potential"):
        init = " ".join((pot.get("init_args") or "").split())
        if init.startswith("Sum") and f"label={label}" in init:
            core_label = pot.get("label")
            if not core_label:
                raise PotentialError(
                    "the top-level <Potential> (a Sum with a core potential) has no label attribute; "
                    "re-export the file with gap_fit",
                    file=path,
                )

    return PotentialInfo(path=path.resolve(), label=label, species=tuple(sorted(species)), sha256=digest.hexdigest(),
                         core_xml_label=core_label)


def check_species(info: PotentialInfo, numbers) -> None:
    """Raise :class:`PotentialError` if the structure has elements the GAP does not cover.

    Parameters
    ----------
    info
        The validated potential.
    numbers
        Atomic numbers of the structure, shape (n_atoms,).

    Raises
    ------
    PotentialError
        If the structure has an element the potential does not cover.
    """
    present = {int(z) for z in numbers}
    missing = sorted(present - set(info.species))
    if missing:
        names = ", ".join(f"{ase.data.chemical_symbols[z]} (Z={z})" for z in missing)
        covered = ", ".join(info.symbols)
        raise PotentialError(
            f"GAP {info.label!r} does not cover {names}; it covers {covered}. "
            "Use a GAP fitted for every element of the structure",
            file=info.path,
        )


_CACHE: dict[tuple[str, str, str], object] = {}
_CACHE_LOCK = threading.Lock()


def load_calculator(info: PotentialInfo):
    """Return a ``quippy.potential.Potential`` for ``info``, loaded once per process.

    The cache key is (path, label, sha256): a production GAP XML can take minutes to load, and
    a launcher runs many tasks with the same potential in one process. If the file changed on
    disk since ``info`` was made, a :class:`PotentialError` is raised instead of loading it.

    The calculator is shared: callers must not attach different atoms concurrently from threads.

    Raises
    ------
    PotentialError
        If the file changed since it was inspected.
    """
    key = (str(info.path), info.label, info.sha256)
    with _CACHE_LOCK:
        pot = _CACHE.get(key)
        if pot is not None:
            return pot
        current = inspect_potential(info.path, info.label)  # re-validate: quippy must not see a bad file
        if current.sha256 != info.sha256:
            raise PotentialError(
                f"file changed since it was inspected (sha256 {current.sha256[:12]} != {info.sha256[:12]}); "
                "re-run with the intended potential",
                file=info.path,
            )
        from quippy.potential import Potential  # heavy import, only when needed

        pot = Potential(info.quip_init_args, param_filename=str(info.path))
        _CACHE[key] = pot
        return pot


def clear_calculator_cache() -> None:
    """Forget every loaded calculator (tests; frees memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()

"""lpsens: ensemble manager for GAP-LAMMPS molecular dynamics of Li2S-P2S5 solid electrolytes."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lpsens")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

from lpsens.errors import LpsensError  # noqa: E402

__all__ = ["LpsensError", "__version__"]

"""Shared fixtures: small hand-made structures (no data needed), the configured data or the packaged demo
sample (``any_data_dir``), and the full data only (``data_dir``: tests of full-data facts, skipped on the demo)."""
import os
from pathlib import Path

import numpy as np
import pytest
from pymatgen.core import Lattice, Structure

DATA = os.environ.get("AECGCNN_DATA")


def triclinic() -> Structure:
    lat = Lattice.from_parameters(4.1, 5.3, 6.2, 78.0, 95.0, 104.0)
    return Structure(lat, ["Si", "O", "O", "Mg"], [[0, 0, 0], [0.31, 0.12, 0.77], [0.6, 0.55, 0.2], [0.2, 0.8, 0.45]])


def one_atom_fcc() -> Structure:
    return Structure(Lattice([[0, 2.0, 2.0], [2.0, 0, 2.0], [2.0, 2.0, 0]]), ["Cu"], [[0, 0, 0]])


def sparse_cubic() -> Structure:
    """One atom in a 7 Å cube: only 6 neighbours (at 7 Å) inside 8 Å, so 6 slots are padding."""
    return Structure(Lattice.cubic(7.0), ["Na"], [[0, 0, 0]])


def rocksalt() -> Structure:
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.fixture
def structures():
    return {"triclinic": triclinic(), "fcc1": one_atom_fcc(), "sparse": sparse_cubic(), "rocksalt": rocksalt()}


@pytest.fixture(scope="session")
def data_dir():
    """The full datasets (facts such as entry counts hold only there); skipped on the demo sample."""
    if not DATA or not Path(DATA).exists():
        pytest.skip("full data not configured: set AECGCNN_DATA (e.g. ../shared/data); the demo sample covers the rest")
    return Path(DATA).resolve()


@pytest.fixture(scope="session")
def any_data_dir():
    """The configured data root, else the demo sample shipped with the package."""
    from aecgcnn.data.datasets import resolve_data_dir
    return resolve_data_dir()


@pytest.fixture(scope="session")
def core_cifs(any_data_dir):
    """Texts of a few real CoRE-2019 MOF CIFs (charged, P1; in the demo sample too), one of them large."""
    from aecgcnn.data.datasets import read_tar_cifs
    names = {"HAWVAE_clean", "ABEXOW_clean", "ACODON_clean", "ABETIN_clean"}
    return read_tar_cifs(any_data_dir / "mof" / "CoRE2019_charged_cifs.tar.xz", names)


@pytest.fixture
def rng():
    return np.random.default_rng(0)

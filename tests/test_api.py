"""The Python API (aecgcnn.load_model): one object for models and ensembles, predictions equal to the CLI's, and the
same number for a CIF path, its text, its pymatgen Structure and its ASE Atoms."""
import numpy as np
import pandas as pd
import pytest
from bad_inputs import BAD, p1_cif
from pymatgen.core import Structure

import aecgcnn
from aecgcnn.cli import main


@pytest.fixture(scope="module")
def mp_model():
    return aecgcnn.load_model("mp-megnet-2018")


def test_load_model_by_name_and_by_path_and_predict_equals_the_cli(tmp_path, mp_model, capsys):
    from aecgcnn.pretrained import find
    by_path = aecgcnn.load_model(find("mp-megnet-2018"))
    assert not mp_model.is_ensemble and mp_model.units == "eV/atom" and "mp-megnet-2018" in repr(mp_model)
    folder = tmp_path / "cifs"
    folder.mkdir()
    for k in range(3):
        (folder / f"c{k}.cif").write_text(p1_cif(cell=(4.0 + 0.1 * k, 4.1, 4.2, 90, 90, 90)))
    table = by_path.predict([folder])
    out = tmp_path / "p.csv"
    assert main(["predict", "--pretrained", "mp-megnet-2018", str(folder), "--out", str(out)]) == 0
    cli = pd.read_csv(out)
    assert list(cli.columns) == list(table.columns) and cli["id"].tolist() == table["id"].tolist()
    assert np.abs(cli.iloc[:, 2].to_numpy() - table.iloc[:, 2].to_numpy()).max() < 1e-5


def test_a_cif_path_its_text_its_structure_and_its_atoms_give_one_prediction(tmp_path, mp_model):
    from pymatgen.io.ase import AseAtomsAdaptor
    text = p1_cif(cell=(4.05, 4.12, 4.2, 88.0, 91.0, 90.5))
    path = tmp_path / "x.cif"
    path.write_text(text)
    structure = Structure.from_str(text, fmt="cif")
    atoms = AseAtomsAdaptor.get_atoms(structure)
    table = mp_model.predict([path, text, structure, atoms])
    values = table[mp_model.prediction_column].to_numpy()
    assert len(values) == 4 and np.abs(values - values[0]).max() < 1e-5
    assert table["id"].tolist()[0] == "x"


def test_bad_items_are_listed_not_raised_and_unknown_kinds_are_an_error(mp_model):
    table = mp_model.predict([BAD["zero_volume_120"][0], p1_cif()])
    assert len(table) == 1 and len(table.attrs["skipped"]) == 1 and "volume" in table.attrs["skipped"][0][1]
    with pytest.raises(aecgcnn.InputError, match="not a CIF path"):
        mp_model.predict([42])
    with pytest.raises(aecgcnn.InputError, match="no pretrained model"):
        aecgcnn.load_model("no-such-model")


def test_explain_gives_per_atom_attention(mp_model):
    atoms = mp_model.explain([p1_cif()])
    assert len(atoms) == 2 and abs(atoms["importance"].sum() - 1) < 1e-5

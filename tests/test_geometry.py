"""aecgcnn geometry: Zeo++ pore geometry of any CIF, isolated in workers; bad files get their reason."""
import pandas as pd
from bad_inputs import BAD

from aecgcnn.cli import main
from aecgcnn.geometry import COLUMNS, _fields, pore_geometry


def test_zeo_result_lines_are_parsed_to_floats():
    line = b"@ x Unitcell_volume: 2101.27   Density: 1.57   ASA_A^2: 192.35 ASA_m^2/cm^3: 915.399 NASA_m^2/g: -nan\nN: 2"
    got = _fields(line)
    assert got["Unitcell_volume"] == 2101.27 and got["ASA_m^2/cm^3"] == 915.399 and got["NASA_m^2/g"] != got["NASA_m^2/g"]


def test_geometry_of_a_mof_and_of_bad_files(tmp_path, core_cifs, monkeypatch):
    monkeypatch.setenv("AECGCNN_CACHE", str(tmp_path / "cache"))
    (tmp_path / "HAWVAE_clean.cif").write_text(core_cifs["HAWVAE_clean"])
    (tmp_path / "flat.cif").write_text(BAD["zero_volume_120"][0])
    table = pore_geometry([tmp_path], workers=2).set_index("id")
    mof = table.loc["HAWVAE_clean"]
    assert mof["problem"] == "" and set(COLUMNS) <= set(table.columns)
    assert 0 < mof["Df"] <= mof["Di"] and mof["Dif"] <= mof["Di"] + 1e-9 and 0 <= mof["AVF"] < 1
    assert abs(mof["CellV [A^3]"] - 2101.27) < 0.1 and 1.0 < mof["density [g/cm^3]"] < 2.5
    assert "volume" in table.loc["flat", "problem"]
    out = tmp_path / "g" / "geo.csv"
    assert main(["geometry", str(tmp_path), "--out", str(out)]) == 0
    assert pd.read_csv(out)["id"].tolist() == ["HAWVAE_clean"] and (tmp_path / "g" / "geo_skipped.csv").exists()


def test_geometry_is_cached_by_content_and_failures_are_not(tmp_path, core_cifs, monkeypatch):
    import aecgcnn.geometry as geometry
    monkeypatch.setenv("AECGCNN_CACHE", str(tmp_path / "cache"))
    (tmp_path / "a.cif").write_text(core_cifs["HAWVAE_clean"])
    (tmp_path / "flat.cif").write_text(BAD["zero_volume_120"][0])
    first = pore_geometry([tmp_path]).set_index("id")
    assert len(list(geometry.geometry_cache_dir().glob("*.json"))) == 1  # the MOF, not the failure
    (tmp_path / "b.cif").write_text(core_cifs["HAWVAE_clean"])  # same content, another name: read from the cache
    calls = []
    real = geometry.map_limited
    monkeypatch.setattr(geometry, "map_limited", lambda f, jobs, *a: calls.extend(j[0] for j in jobs) or real(f, jobs, *a))
    again = pore_geometry([tmp_path]).set_index("id")
    assert [p.name for p in calls] == ["flat.cif"]  # only the failure runs Zeo++ again
    assert again.loc["b", COLUMNS].tolist() == again.loc["a", COLUMNS].tolist() == first.loc["a", COLUMNS].tolist()

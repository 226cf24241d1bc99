"""aecgcnn.data.rebuild end to end against a real local HTTP server (Python's http.server, with Range support)
serving small fixture files in the upstream layouts (CGCNN_MOF id_*.csv tables, FABO's CSVs with a byte-order
mark and duplicated rows): download with resume, SHA-256 of upstream files, the merge, the manifest check, and
the messages for a changed upstream file, an offline machine and a file without an automated rebuild."""
import gzip
import hashlib
import http.server
import io
import json
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from aecgcnn import InputError
from aecgcnn.data import rebuild as rb

CG = "zakariyyabrewster/CGCNN_MOF/c000efcb5935fd75b8f2a13cb770c36030d8fe57/test_datasets"
FABO = "AI4ChemS/FABO/8fcf5de17b4ea7466416f33c6600ddd8d9427e55/FABO/data/Suboptimal_dataset"
GEO = ("\ufeffUnnamed: 0,ASA [m^2/cm^3],CellV [A^3],Df,Di,Dif,NASA [m^2/cm^3],POAV [cm^3/g],POAVF,PONAV [cm^3/g],"
       "PONAVF,density [g/cm^3],MOFname,total_SA_volumetric,total_SA_gravimetric,total_POV_volumetric,"
       "total_POV_gravimetric,")
FIXTURES = {  # upstream key -> (path on the server, text)
    "cgcnn_mof_id_CO2_LP.csv": (f"{CG}/id_CO2_LP.csv", "MOFname,CO2_LP\nB_clean,2.5\nA_clean,0.1000000000000001\n"),
    "cgcnn_mof_id_CH4_HP.csv": (f"{CG}/id_CH4_HP.csv", "MOFname,CH4_HP\nB_clean,3.0\nA_clean,4\n"),
    "cgcnn_mof_id_logKH_CO2.csv": (f"{CG}/id_logKH_CO2.csv", "MOFname,logKH_CO2\nB_clean,-3.5\nA_clean,-4.25\n"),
    "cgcnn_mof_id_Di.csv": (f"{CG}/id_Di.csv", "MOFname,Di\nB_clean,5.1\nA_clean,4.0\n"),
    "cgcnn_mof_id_Df.csv": (f"{CG}/id_Df.csv", "MOFname,Df\nB_clean,3.1\nA_clean,3.0\n"),
    "cgcnn_mof_id_Dif.csv": (f"{CG}/id_Dif.csv", "MOFname,Dif\nB_clean,5.0\nA_clean,3.9\n"),
    # C: FABO only; D: listed twice in FABO's 0.15 bar table (ambiguous -> no 0.15 bar label); E: 16 bar only
    "fabo_CoRE2019_15000_no_chem.csv": (f"{FABO}/CoRE2019_15000_no_chem.csv", GEO + "pure_uptake_CO2_298.00_15000\n"
        "0,1,2,3.3,6.6,6.0,0,0,0,0,0,1,C_clean,1,1,1,1,1.75\n1,1,2,2.2,4.4,4.0,0,0,0,0,0,1,D_clean,1,1,1,1,0.5\n"
        "2,1,2,2.2,4.4,4.0,0,0,0,0,0,1,D_clean,1,1,1,1,0.5\n3,1,2,9,9,9,0,0,0,0,0,1,A_clean,1,1,1,1,7\n"),
    "fabo_CoRE2019_1600000_no_chem.csv": (f"{FABO}/CoRE2019_1600000_no_chem.csv", GEO + "pure_uptake_CO2_298.00_1600000\n"
        "0,1,2,1.5,2.5,2.0,0,0,0,0,0,1,E_clean,1,1,1,1,12.5\n1,1,2,3.3,6.6,6.0,0,0,0,0,0,1,C_clean,1,1,1,1,9\n"
        "2,1,2,3.1,5.1,5.0,0,0,0,0,0,1,B_clean,1,1,1,1,8\n3,1,2,2.2,4.4,4.0,0,0,0,0,0,1,D_clean,1,1,1,1,6\n"),
}
TOPO = "fxcoudert/topology_databases/41163fcf52ff9bdb3f993c83ef7eaee6f1676b50/cif"
JARVIS = ("usnistgov/jarvis_leaderboard/57afc55f94c8a6f4562f73a3173968cd4b2f83b1/jarvis_leaderboard/benchmarks/AI/"
          "SinglePropertyPrediction/megnet_e_form.json.zip")
CIF_HEAD = "# generated using pymatgen\ndata_X\nloop_\n _atom_site_type_symbol\n  Na  Na0  1  0.0  0.0  0.0  1\n"
MP_CIFS = {  # mp-2 has a bond loop (dropped by the merge); mvc-9 and mp-4 have no CIF in the collection (HTTP 404)
    "mp-1": CIF_HEAD, "mp-2": CIF_HEAD + "loop_\n_geom_bond_atom_site_label_1\nNa0 Na0 2.7 1_554\n", "mp-3": CIF_HEAD}
MP_SPLIT = {"train": {"mp-2": "0.5", "mvc-9": "-1.0", "mp-1": "-0.25"}, "val": {"mp-4": "1"}, "test": {"mp-3": "2"}}
MP_EXPECTED = "".join(json.dumps({"mp_id": i, "e_form": e, "split": p, "cif": CIF_HEAD}) + "\n" for i, e, p in
                      [("mp-2", 0.5, "train"), ("mp-1", -0.25, "train"), ("mp-3", 2.0, "test")])


# matbench: a pandas 'split' table of 7 entries; mb-3 has no mp-id pair (left out), mb-6's mp-id has no CIF (HTTP 404)
MB_HOST = "ml.materialsproject.org/projects/matbench_mp_e_form.json.gz"  # a non-GitHub host on the mirror
MB_E = [0.25, -1.5, 3.0, 0.125, -0.0625, 2.5, -2.0]
MB_TABLE = {"index": [f"mb-{k}" for k in range(1, 8)], "columns": ["structure", "e_form"],
            "data": [[{"@module": "pymatgen.core.structure", "sites": []}, e] for e in MB_E]}
MB_PAIRS = "mb-1 mp-3\nmb-2 mp-1\nmb-4 mp-2\nmb-5 mp-1\nmb-6 mp-4\nmb-7 mp-3\n"


def matbench_expected() -> str:
    """The merged lines by the recipe's rules; test_fold by matbench's definition (KFold(5, shuffle, 18012019))."""
    import numpy as np
    from sklearn.model_selection import KFold
    fold = {}
    for k, (_, test) in enumerate(KFold(5, shuffle=True, random_state=18012019).split(np.arange(7))):
        fold.update({int(i): k for i in test})
    rows = [(0, "mp-3"), (1, "mp-1"), (3, "mp-2"), (4, "mp-1"), (6, "mp-3")]
    return "".join(json.dumps({"mbid": f"mb-{i + 1}", "mp_id": p, "e_form": MB_E[i], "test_fold": fold[i],
                               "cif": CIF_HEAD}) + "\n" for i, p in rows)


CORE = "tdpham2/MOFSimplify/7f94c3ddbb2f222ed00b25756244b65fac3a2738/CoRE2019"
CORE_CIFS = {"B_clean": b"data_B\n_cell_length_a 10\n", "A_clean": b"data_A\n_atom_site_charge\n\xc3\xa9\n"}


def tar_expected() -> str:
    """The archive digest by its definition: name order, each name, NUL, SHA-256 of the file's bytes."""
    h = hashlib.sha256()
    for n in sorted(CORE_CIFS):
        h.update(f"CoRE2019/{n}.cif".encode() + b"\0" + hashlib.sha256(CORE_CIFS[n]).digest())
    return h.hexdigest()


def jarvis_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("megnet_e_form.json", json.dumps(MP_SPLIT))
    return buf.getvalue()


# the merged table, written out by hand from the rules in merge_core2019_labels' docstring
EXPECTED = """MOFname,pure_uptake_CO2_298.00_15000,pure_uptake_methane_298.00_6500000,logKH_CO2,Di,Df,Dif,source_015bar,pure_uptake_CO2_298.00_1600000
B_clean,2.5,3.0,-3.5,5.1,3.1,5.0,CGCNN_MOF id_CO2_LP.csv,8.0
A_clean,0.1000000000000001,4.0,-4.25,4.0,3.0,3.9,CGCNN_MOF id_CO2_LP.csv,
E_clean,,,,2.5,1.5,2.0,,12.5
C_clean,1.75,,,6.6,3.3,6.0,FABO CoRE2019_15000_no_chem.csv,9.0
D_clean,,,,4.4,2.2,4.0,,6.0
"""


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files with ``Range: bytes=N-`` support (206), recording the ranges asked for."""

    ranges: list = []

    def log_message(self, *args):
        pass

    def send_head(self):
        rng = self.headers.get("Range")
        path = Path(self.translate_path(self.path))
        if not rng or not path.is_file():
            return super().send_head()
        start = int(rng.split("=")[1].rstrip("-"))
        Handler.ranges.append((path.name, start))
        data = path.read_bytes()[start:]
        self.send_response(206)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        import io
        return io.BytesIO(data)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "web"
    for path, text in FIXTURES.values():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(text.encode())
    (root / TOPO).mkdir(parents=True)
    for i, text in MP_CIFS.items():
        (root / TOPO / f"{i}.cif").write_text(text)
    (root / CORE).mkdir(parents=True)
    for n, data in CORE_CIFS.items():
        (root / CORE / f"{n}.cif").write_bytes(data)
    (root / JARVIS).parent.mkdir(parents=True)
    (root / JARVIS).write_bytes(jarvis_zip())
    (root / MB_HOST).parent.mkdir(parents=True)
    (root / MB_HOST).write_bytes(gzip.compress(json.dumps(MB_TABLE).encode()))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Handler(*a, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()


def manifest(expected=EXPECTED, tmp=None):
    """The recipes and upstream manifest of the fixtures (their SHA-256s; the digest of EXPECTED)."""
    upstream = {k: replace(rb.UPSTREAM[k], sha256=hashlib.sha256(text.encode()).hexdigest())
                for k, (_, text) in FIXTURES.items()}
    upstream["jarvis_megnet_e_form.json.zip"] = replace(rb.UPSTREAM["jarvis_megnet_e_form.json.zip"],
                                                        sha256=hashlib.sha256(jarvis_zip()).hexdigest())
    upstream["matbench_mp_e_form.json.gz"] = rb.UPSTREAM["matbench_mp_e_form.json.gz"]  # not pinned, as upstream
    tmp.write_text(expected)
    digests = {"content": rb.labels_digest(tmp), "gunzip": hashlib.sha256(MP_EXPECTED.encode()).hexdigest(),
               "tar": tar_expected(),
               "sha256": hashlib.sha256(FIXTURES["fabo_CoRE2019_1600000_no_chem.csv"][1].encode()).hexdigest()}
    recipes = {rel: replace(r, digest=digests[r.check]) for rel, r in rb.RECIPES.items()}
    return recipes, upstream


def with_core_names(recipes: dict, tmp_path) -> dict:
    """The recipes with the CoRE CIF archive packing the fixture's two names instead of the shipped 12,023, and
    matbench joined through the fixture's mbid -> mp-id pairs (its digest: that of :func:`matbench_expected`)."""
    names = tmp_path / "names.txt.gz"
    names.write_bytes(gzip.compress("A_clean\nB_clean\n".encode()))
    pairs = tmp_path / "pairs.txt.gz"
    pairs.write_bytes(gzip.compress(MB_PAIRS.encode()))
    rel, mb = "mof/CoRE2019_charged_cifs.tar.xz", "mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz"
    return {**recipes, rel: replace(recipes[rel], build=rb.pack_cifs(rb.CORE2019_CIFS, names, "core", "CoRE2019")),
            mb: replace(recipes[mb], build=rb.merge_matbench(pairs),
                        digest=hashlib.sha256(matbench_expected().encode()).hexdigest())}


def test_rebuild_downloads_merges_and_checks_against_the_manifest(server, tmp_path):
    url, _ = server
    recipes, upstream = manifest(tmp=tmp_path / "expected.csv")
    recipes = with_core_names(recipes, tmp_path)
    data = tmp_path / "data"
    # a download interrupted after 10 bytes: resumed with a Range request
    part = data / "upstream" / "cgcnn_mof_id_CO2_LP.csv.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(FIXTURES["cgcnn_mof_id_CO2_LP.csv"][1].encode()[:10])
    Handler.ranges.clear()
    out = rb.rebuild("mof/core2019_co2_labels_merged.csv", data, url, False, recipes, upstream)
    assert out == data / "mof/core2019_co2_labels_merged.csv"
    assert out.read_text() == EXPECTED
    assert Handler.ranges == [("id_CO2_LP.csv", 10)] and not part.exists()
    geo = rb.rebuild("mof/core2019_geometry_16bar.csv", data, url, False, recipes, upstream)
    assert geo.read_bytes() == FIXTURES["fabo_CoRE2019_1600000_no_chem.csv"][1].encode()
    import tarfile
    archive = rb.rebuild("mof/CoRE2019_charged_cifs.tar.xz", data, url, False, recipes, upstream)
    with tarfile.open(archive) as tar:
        assert {m.name: tar.extractfile(m).read() for m in tar} == {f"CoRE2019/{n}.cif": b for n, b in CORE_CIFS.items()}
    mp = rb.rebuild("mp/megnet_mp2018_e_form_with_mp2025_cif.jsonl.gz", data, url, False, recipes, upstream)
    assert gzip.open(mp, "rt").read() == MP_EXPECTED
    assert sorted(p.name for p in (data / "upstream" / "topology_databases_cif").iterdir()) == \
        ["mp-1.cif", "mp-2.cif", "mp-3.cif", "mp-4.absent", "mvc-9.absent"]  # a rerun asks for nothing again
    # matbench: from another host (the mirror maps https://<host>/<path> to <mirror>/<host>/<path>), not pinned by
    # SHA-256 (upstream None), joined through the mbid -> mp-id pairs, the CIFs shared with the MEGNet file's
    mb = rb.rebuild("mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz", data, url, False, recipes, upstream)
    assert gzip.open(mb, "rt").read() == matbench_expected()
    # upstream files already downloaded with the right digest are reused (the server is not asked again)
    Handler.ranges.clear()
    rb.rebuild("mof/core2019_co2_labels_merged.csv", data, "http://127.0.0.1:9", False, recipes, upstream)
    rb.rebuild("mp/megnet_mp2018_e_form_with_mp2025_cif.jsonl.gz", data, "http://127.0.0.1:9", False, recipes, upstream)


def test_a_changed_upstream_file_or_a_different_result_is_refused(server, tmp_path):
    url, root = server
    recipes, upstream = manifest(tmp=tmp_path / "expected.csv")
    recipes = with_core_names(recipes, tmp_path)
    (root / CORE / "B_clean.cif").unlink()  # a listed CIF gone upstream
    with pytest.raises(InputError, match=r"CoRE2019: 1 CIFs are gone upstream \(e.g. \['B_clean'\]\)"):
        rb.rebuild("mof/CoRE2019_charged_cifs.tar.xz", tmp_path / "c", url, False, recipes, upstream)
    path = root / FIXTURES["cgcnn_mof_id_Di.csv"][0]
    path.write_text(path.read_text().replace("5.1", "5.2"))
    with pytest.raises(InputError, match=r"id_Di.csv: the upstream file changed \(SHA-256"):
        rb.rebuild("mof/core2019_co2_labels_merged.csv", tmp_path / "a", url, False, recipes, upstream)
    recipes, _ = manifest(EXPECTED.replace("12.5", "12.25"), tmp_path / "expected.csv")  # a manifest the merge misses
    with pytest.raises(InputError, match="does not match the manifest"):
        rb.rebuild("mof/core2019_co2_labels_merged.csv", tmp_path / "b", url, False, recipes,
                   {**upstream, "cgcnn_mof_id_Di.csv": replace(upstream["cgcnn_mof_id_Di.csv"],
                                                              sha256=hashlib.sha256(path.read_bytes()).hexdigest())})
    assert not (tmp_path / "b" / "mof" / "core2019_co2_labels_merged.csv").exists()  # nothing half-right is left


def test_offline_and_manual_files_say_what_to_do(tmp_path):
    with pytest.raises(InputError, match=r"http://127.0.0.1:9/zakariyyabrewster/.*id_CO2_LP.csv: download failed.*offline"):
        rb.rebuild("mof/core2019_co2_labels_merged.csv", tmp_path, "http://127.0.0.1:9", False)
    with pytest.raises(InputError, match=r"http://127.0.0.1:9/ml.materialsproject.org/projects/matbench_mp_e_form"):
        rb.rebuild("mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz", tmp_path, "http://127.0.0.1:9", False)
    with pytest.raises(InputError, match="matbench_mp_e_form_with_mp2025_cif.jsonl.gz: no automated rebuild; by hand"):
        rb.rebuild("mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz", tmp_path, recipes={})


def test_a_file_that_is_not_matbench_is_refused(server, tmp_path):
    url, root = server
    (root / MB_HOST).write_bytes(gzip.compress(json.dumps({"index": [], "columns": ["x"], "data": []}).encode()))
    recipes, upstream = manifest(tmp=tmp_path / "expected.csv")
    with pytest.raises(InputError, match=r"matbench_mp_e_form.json.gz: not matbench's mp_e_form table"):
        rb.rebuild("mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz", tmp_path / "d", url, False,
                   with_core_names(recipes, tmp_path), upstream)


def test_the_manifest_describes_the_shipped_copies(data_dir):
    """The digests the rebuild must reach are those of the files our results were measured on (the merge itself
    was run on the real upstream files at the pinned commits and reached them: data/README.md)."""
    from aecgcnn.data.sources import FILES
    assert rb.labels_digest(data_dir / "mof/core2019_co2_labels_merged.csv") == \
        rb.RECIPES["mof/core2019_co2_labels_merged.csv"].digest
    assert rb.RECIPES["mof/core2019_geometry_16bar.csv"].digest == FILES["mof/core2019_geometry_16bar.csv"].sha256
    mp = "mp/megnet_mp2018_e_form_with_mp2025_cif.jsonl.gz"
    assert rb.gunzip_digest(data_dir / mp) == rb.RECIPES[mp].digest
    core = "mof/CoRE2019_charged_cifs.tar.xz"
    assert rb.tar_digest(data_dir / core) == rb.RECIPES[core].digest
    import tarfile
    for rel, names, folder in ((core, rb.CORE2019_NAMES, "CoRE2019"), ("mof/bwdb_subset_cifs.tar.xz", rb.BWDB_NAMES, "cif")):
        assert rb.tar_digest(data_dir / rel) == rb.RECIPES[rel].digest
        with tarfile.open(data_dir / rel) as tar:  # the shipped name list is the archive's
            assert sorted(m.name for m in tar if m.isfile()) == \
                [f"{folder}/{n}.cif" for n in gzip.open(names, "rt").read().split()]
    assert rb.RECIPES["mof/bwdb_boyd2019_labels.csv"].digest == FILES["mof/bwdb_boyd2019_labels.csv"].sha256
    mb = "mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz"
    assert rb.gunzip_digest(data_dir / mb) == rb.RECIPES[mb].digest
    # the shipped mbid -> mp-id pairs are the data file's, and its test_fold is matbench's KFold over 132,752 entries
    import numpy as np
    from sklearn.model_selection import KFold
    rows = [json.loads(line) for line in gzip.open(data_dir / mb, "rt")]
    assert gzip.open(rb.MATBENCH_IDS, "rt").read() == "".join(f"{r['mbid']} {r['mp_id']}\n" for r in rows)
    fold = np.empty(132752, dtype=int)
    for k, (_, test) in enumerate(KFold(5, shuffle=True, random_state=18012019).split(np.arange(132752))):
        fold[test] = k
    assert [int(fold[int(r["mbid"].rsplit("-", 1)[1]) - 1]) for r in rows] == [r["test_fold"] for r in rows]
    assert set(rb.RECIPES) | set(rb.MANUAL) == set(FILES) and not rb.MANUAL

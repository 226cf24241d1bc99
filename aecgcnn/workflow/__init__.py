"""The reproduction workflow beside the model library: the paper's numbers (``paper``), the notebooks' studies and
profiles (``studies``), tables and figures (``reports``), verdicts on the paper's claims (``verdicts``), where long
runs stand (``status``) and their archive in the repository (``archive``). The library (``aecgcnn``) never imports
from here; the notebooks, the CLI's ``reproduce``/``status``/``archive`` and the scripts do."""

"""Every default of a run, written once: graph, model recipe (protocols), optimiser, data split, input checks,
runtime. The CLI's options, the notebooks' profiles, :class:`aecgcnn.experiment.Experiment`, the checkpoint and
the model card take their defaults from here; a model's own architecture options (widths, heads) are its config
dataclass's (``aecgcnn/models/<family>.py``).

Words used for configuration: a **run configuration** is one :class:`~aecgcnn.experiment.Experiment` (everything a
run computes from); a **protocol** is a named recipe of model options and optimiser settings
(:data:`PROTOCOLS`); a **profile** is the scale a notebook runs at (``aecgcnn.workflow.studies.PROFILES``); a
**preset** is a rung of the ladder (``aecgcnn.models.LADDER``); **model options** are changes to a model's config.
"""
from __future__ import annotations

# --- graph (aecgcnn.graph) -----------------------------------------------------------------------------------------
#: neighbour search radius (Å) of the graphs and of the models' distance bases
CUTOFF = 8.0
#: neighbour slots per atom (the 12 nearest within the cutoff)
MAX_NEIGHBORS = 12

# --- input checks (aecgcnn.graph.check_structure, aecgcnn.screen) ---------------------------------------------------
#: atoms closer than this (Å) are one site written twice (the shortest bond, H2, is 0.74 Å; CoRE-2019 holds
#: separations down to 0.10 Å from resolved disorder, kept as the dataset has them)
MIN_DISTANCE = 0.05
#: a cell with less volume per atom (Å³) is degenerate (the densest solids have about 5 Å³ per atom)
MIN_VOLUME_PER_ATOM = 0.5
#: fractional coordinates beyond this magnitude are corrupt (they lose all precision when wrapped into the cell)
MAX_FRACTIONAL = 1e4
#: a cell needing more periodic images than this for its neighbour search is refused as degenerate (too thin)
MAX_IMAGES = 100_000
#: seconds one structure's graph may take before it is skipped (the largest CoRE MOFs take a few seconds)
GRAPH_TIME_LIMIT = 60.0
#: the largest CIF (bytes) a screen reads into memory (the largest CoRE-2019 CIF is about 1 MB)
MAX_CIF_BYTES = 64 * 2**20

# --- pore geometry (aecgcnn.geometry) ------------------------------------------------------------------------------
#: probe radius (Å) of Zeo++'s surface areas and pore volumes: N2, as the CoRE-2019 table
PROBE_RADIUS = 1.86

# --- recipes (aecgcnn.protocols) -----------------------------------------------------------------------------------
#: named recipes: model options for every AE-CGCNN rung and the optimiser settings (aecgcnn.protocols explains each)
PROTOCOLS: dict[str, dict] = {
    "paper": {
        "model": {"atom_features": "onehot", "activation": "relu", "readout_preact": True, "init": "fused",
                  "n_conv": 4},
        "train": {"epochs": 50, "lr": 1e-3, "weight_decay": 5e-4, "batch_size": 64},
    },
    "reference-cgcnn": {
        "model": {"atom_features": "cgcnn", "activation": "softplus", "readout_preact": True, "init": "fused",
                  "n_conv": 3},
        "train": {"epochs": 50, "lr": 1e-3, "weight_decay": 0.0, "batch_size": 256},
    },
}
#: a model's own optimiser settings, on top of any protocol's (GeoCGNN: no weight decay, as its published code)
MODEL_TRAIN: dict[str, dict] = {"geocgnn": {"weight_decay": 0.0}}
DEFAULT_PROTOCOL = "paper"
#: the optimiser settings a protocol sets
TRAIN_KEYS = ("epochs", "lr", "weight_decay", "batch_size")
#: learning-rate schedules (aecgcnn.train.lr_factor): ``constant`` (the paper's), ``cosine`` (half a cosine from the
#: rate down to COSINE_FLOOR of it at the last epoch), ``plateau`` (× PLATEAU_FACTOR after PLATEAU_PATIENCE epochs
#: without a better validation MAE); each after an optional linear warm-up
LR_SCHEDULES = ("constant", "cosine", "plateau")
COSINE_FLOOR = 0.01
PLATEAU_FACTOR = 0.5
PLATEAU_PATIENCE = 5

# --- data split (aecgcnn.data.splits) ------------------------------------------------------------------------------
DEFAULT_SPLIT = "80-10-10"
#: the validation share carved out of a 70-30 split's training part
VAL_FRACTION_OF_TRAIN = 0.1

# --- runtime -------------------------------------------------------------------------------------------------------
#: the per-edge GEMM precision (aecgcnn.models.fused) per dataset task: the one that met the accuracy bar (test MAE
#: within 2 % of float32 over three seeds, benchmarks/fidelity.py): bf16 on formation energies (MP), float32 on MOF
#: CO2 uptake (CoRE: bf16 measured 2.4 % higher, on every seed)
EDGE_PRECISION_BY_TASK = {"formation_energy": "bf16", "co2_uptake": "fp32"}
#: the precision where no task is known (a user's own data): the one that passed everywhere
EDGE_PRECISION = "fp32"
#: what runs recorded before ``edge_precision`` existed computed
LEGACY_EDGE_PRECISION = "fp32"
#: structures per batch of predict, screen and the Python API
PREDICT_BATCH_SIZE = 32

# --- applicability domain (aecgcnn.domain) ------------------------------------------------------------------------
#: nearest training crystals averaged in the embedding distance
DOMAIN_K = 5
#: the threshold τ is this percentile of the validation crystals' distances (about 5 % of them fall outside)
DOMAIN_PERCENTILE = 95.0
#: training crystals kept as the stored reference set (a random subset above this; float16, D = 64: 0.5 MB)
DOMAIN_REFERENCE = 4096
#: the bulk-property range a domain accepts: these percentiles of the reference crystals (chosen on validation
#: crystals against the min-max range and 1-99: benchmarks/domain.py --choose, results in docs/performance.md)
DOMAIN_RANGE = (0.5, 99.5)
#: what ``screen`` does with structures outside a model's domain: ``keep`` ranks them with the others (the columns
#: say it), ``last`` ranks every in-domain structure first, ``drop`` leaves them out of the ranking (listed in
#: ``<out stem>_outside_domain.csv``); the first is the default
DOMAIN_MODES = ("keep", "last", "drop")

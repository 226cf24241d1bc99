"""Data layer: named datasets and user data (``datasets``), public sources (``sources``), the graph
cache and parallel builder (``cache``), batching (``batch``) and reproducible splits (``splits``)."""
from aecgcnn.data.datasets import Entry, DatasetSpec, DATASETS, load_entries, resolve_data_dir  # noqa: F401

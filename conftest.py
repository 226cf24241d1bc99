"""Repository-wide pytest set-up (tests/ and the notebooks run by nbval): a relative $AECGCNN_DATA is made
absolute against the directory pytest runs in, before any notebook kernel starts (kernels run inside
notebooks/ and inherit the environment); the chunk kernels run eagerly (AECGCNN_KERNELS=eager, inherited by the
notebook kernels and CLI subprocesses): compiling them costs seconds each, which the tests' tiny runs never repay.
tests/test_fused.py checks the compiled kernels explicitly."""
import os

os.environ.setdefault("AECGCNN_KERNELS", "eager")

from aecgcnn.data.datasets import absolutize_data_env  # noqa: E402

absolutize_data_env()

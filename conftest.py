"""Repository-wide pytest set-up (tests/ and the notebooks run by nbval): a relative $AECGCNN_DATA is made
absolute against the directory pytest runs in, before any notebook kernel starts (kernels run inside
notebooks/ and inherit the environment); the chunk kernels run eagerly (AECGCNN_KERNELS=eager, inherited by the
notebook kernels and CLI subprocesses): compiling them costs seconds each, which the tests' tiny runs never repay.
tests/test_fused.py checks the compiled kernels explicitly."""
import os

os.environ.setdefault("AECGCNN_KERNELS", "eager")

from aecgcnn.data.datasets import absolutize_data_env  # noqa: E402

absolutize_data_env()


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the tests marked slow (e.g. installing the built wheel into a fresh venv); "
                          "AECGCNN_SLOW=1 does the same")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: minutes long; skipped unless --run-slow or AECGCNN_SLOW=1")


def pytest_collection_modifyitems(config, items):
    import pytest
    if config.getoption("--run-slow") or os.environ.get("AECGCNN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow or AECGCNN_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)

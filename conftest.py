"""Repository-wide pytest set-up (tests/ and the notebooks run by nbval): a relative $AECGCNN_DATA is made
absolute against the directory pytest runs in, before any notebook kernel starts (kernels run inside
notebooks/ and inherit the environment)."""
from aecgcnn.data.datasets import absolutize_data_env

absolutize_data_env()

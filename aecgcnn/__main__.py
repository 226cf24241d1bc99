"""``python -m aecgcnn ...``: the same command line as the ``aecgcnn`` script."""
import sys

from aecgcnn.cli import main

sys.exit(main())

"""numpy's BLAS threads, limited before numpy loads: the workers package imports this first.

Its threads, like torch's, spin against the other processes on a small machine (a 10k x 384
comparison in the incident tracker: 8 ms with 2, 0.4 ms with 1)."""

import os

#: What OPENBLAS_NUM_THREADS is for this process: as set, or SMARTSUPPORT_TORCH_THREADS (default 1).
THREADS = os.environ.setdefault("OPENBLAS_NUM_THREADS", os.environ.get("SMARTSUPPORT_TORCH_THREADS", "1"))

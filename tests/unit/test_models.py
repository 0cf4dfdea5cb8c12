"""The model process's memory behaviour, measured in a fresh interpreter each time."""

import subprocess
import sys
import textwrap

#: 50 rounds of a batch's activations: six 8 MiB buffers, touched, then freed; print the page faults.
CHURN = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from smartsupport.models import keep_freed_memory
    if sys.argv[1] == "keep":
        assert keep_freed_memory()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        buffers = [np.ones(2 << 20, dtype=np.float32) for _ in range(6)]
        del buffers
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", CHURN, mode], check=True, capture_output=True, text=True)
    return int(out.stdout.strip())


def test_freed_batch_memory_is_reused_instead_of_faulted_in_again():
    default, kept = _page_faults("default"), _page_faults("keep")
    # By default the freed top of the heap goes back to the kernel each round, and the next round
    # faults much of its 48 MiB in again (about 3,000 faults a round measured here).
    assert default > 50 * 1000
    # Kept, only the first round faults its pages in.
    assert kept < default / 10

"""The model process's memory behaviour, measured in a fresh interpreter each time."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: 50 rounds of a batch's activations: six 8 MiB buffers, written, then freed; print the page faults.
#: (bytes, not numpy: numpy asks the kernel for huge pages, which would count far fewer faults.)
CHURN = textwrap.dedent("""
    import resource, sys
    from smartsupport.models import keep_freed_memory
    if sys.argv[1] == "keep":
        assert keep_freed_memory()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        buffers = [b"x" * (8 << 20) for _ in range(6)]
        del buffers
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _page_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", CHURN, mode], check=True, capture_output=True, text=True, cwd=ROOT)
    return int(out.stdout.strip())


def test_freed_batch_memory_is_reused_instead_of_faulted_in_again():
    default, kept = _page_faults("default"), _page_faults("keep")
    # By default every round gives its 48 MiB back to the kernel and faults it in again
    # (about 600,000 faults of 4 KiB pages in all, measured here); kept, only the first round does.
    assert default > 50 * 20
    assert kept * 10 < default

"""The README's example runs as printed, with the same spikes on 1 and 2 ranks."""

import re
from pathlib import Path

from support.launch import run_mpi, run_python

README = Path(__file__).resolve().parents[2] / "README.md"


def example() -> str:
    return re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)


def test_readme_example_gives_the_same_spikes_on_1_and_2_ranks(tmp_path):
    script = tmp_path / "readme_example.py"
    script.write_text(example())
    serial = run_python(script.read_text(), timeout=120)
    parallel = run_mpi(2, [str(script)], timeout=120)
    assert serial.returncode == 0, serial.output
    assert parallel.returncode == 0, parallel.output
    counts = re.findall(r"(\d+) spikes", serial.stdout)
    assert counts and int(counts[0]) > 20
    assert re.findall(r"(\d+) spikes", parallel.stdout) == counts

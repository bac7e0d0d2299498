"""The README names every process the Procfiles start (issue 15, item 8), so an operator who sees `prime` in
honcho's output can read what it is."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("procfile", ["Procfile", "Procfile.live"])
def test_the_readme_names_every_process_of_the_procfile(procfile):
    names = [line.split(":", 1)[0].strip() for line in (ROOT / procfile).read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    quick_start = (ROOT / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert names and [name for name in names if f"`{name}`" not in quick_start] == []
    assert f"`{procfile}`" in quick_start

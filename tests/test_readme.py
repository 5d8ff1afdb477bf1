"""The README shows the main job's real output: its block equals what the console script
prints today, mapping search included (a few seconds: the search is deterministic for its
default seed, and a change to it must show in the README)."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = "sbmodel evaluate arch_specs/eyeriss_sparse.yaml workloads/resnet18_sb.yaml"


def test_readme_main_job_output_is_current():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```\n\$ " + re.escape(COMMAND) + r"\n(.*?)```", readme, re.S)
    assert block, "README lost the main job's output block"
    shown = block.group(1).rstrip().splitlines()
    fresh = {**os.environ, "SBMODEL_MAPPING_CACHE": ""}  # searched now, not read from a user's cache
    run = subprocess.run(COMMAND.split(), cwd=ROOT, capture_output=True, text=True, check=True, env=fresh)
    printed = run.stdout.rstrip().splitlines()
    assert shown[-1] == "mappings: mapper"
    assert shown == printed

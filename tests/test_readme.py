"""The README shows the main job's real output: its block equals what the console script
prints today (with the searched mappings pinned in mappings/, so this takes a second)."""
from __future__ import annotations

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
    run = subprocess.run([*COMMAND.split(), "--mapping", "mappings/eyeriss_sparse_resnet18_sb.yaml"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    printed = run.stdout.rstrip().splitlines()
    # the last line says where the mappings came from (README: the search; here: the file)
    assert shown[-1] == "mappings: mapper"
    assert shown[:-1] == printed[:-1]

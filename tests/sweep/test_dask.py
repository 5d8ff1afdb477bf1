"""The same sweep on a Dask cluster (a LocalCluster here; CI installs dask.distributed)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sbmodel.sweep import run_sweep

from .conftest import DRAM_BW, GLB, need


def test_local_cluster_matches_serial(make_sweep, tmp_path: Path):
    distributed = need("distributed")
    sweep = make_sweep({"glb": {"path": GLB, "values": [1024, 65536]},
                        "bw": {"path": DRAM_BW, "values": [2, 8]},
                        "pe": {"path": ["architecture.levels.inter_PE_spatial.mesh",
                                        "architecture.levels.ifmap_spad.mesh"],
                               "choices": {"ok": [[14, 1], [14, 12]], "bad": [[16, 1], [14, 12]]}}})
    serial = run_sweep(sweep, tmp_path / "serial.csv", jobs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        out = tmp_path / "dask.csv"
        df = run_sweep(sweep, out, client=client, mapping_cache=tmp_path / "dask-maps", limit=5)
        assert df.attrs["summary"].evaluated == 5
        df = run_sweep(sweep, out, client=client, mapping_cache=tmp_path / "dask-maps")  # resumes
        assert (df.attrs["summary"].skipped, df.attrs["summary"].evaluated) == (5, 3)
        address = cluster.scheduler_address
        # the CLI's --scheduler path: connect by address
        again = run_sweep(sweep, tmp_path / "addr.csv", scheduler=address)
    key = ["point", "row", "layer"]
    for got in (df, again):
        pd.testing.assert_frame_equal(got.drop(columns="seconds").sort_values(key).reset_index(drop=True),
                                      serial.drop(columns="seconds").sort_values(key).reset_index(drop=True))
    assert (df[df.row == "total"].status == "error").sum() == 4

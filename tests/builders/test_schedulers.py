"""The builder gives the same release whatever Dask scheduler runs it."""

from __future__ import annotations

import json

import pytest

from builders.build import build_release


@pytest.mark.parametrize("scheduler", ["threads", "processes", "synchronous"])
def test_local_schedulers_give_the_same_release(project, tmp_path, scheduler):
    release = project.valid()
    reference = build_release(
        release, project.raw, project.out, progress=False, scheduler="synchronous"
    )
    other = build_release(
        release, project.raw, tmp_path / scheduler, progress=False, scheduler=scheduler
    )
    assert json.loads((other / "manifest.json").read_text()) == json.loads(
        (reference / "manifest.json").read_text()
    )


def test_dask_distributed_scheduler_gives_the_same_release(project, tmp_path):
    """`--scheduler ADDRESS`: a dask.distributed cluster (in-process, 127.0.0.1), the same bytes."""
    from distributed import LocalCluster

    release = project.valid()
    local = build_release(release, project.raw, project.out, progress=False)
    with LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        remote = build_release(
            release,
            project.raw,
            tmp_path / "cluster",
            progress=False,
            scheduler=cluster.scheduler_address,
        )
    assert json.loads((remote / "manifest.json").read_text()) == json.loads(
        (local / "manifest.json").read_text()
    )

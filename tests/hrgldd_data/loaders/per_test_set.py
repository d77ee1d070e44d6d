"""The check that TorchGeo's stock test loop gives the product's evaluator's per-test-set scores.

Shared by the loader tests and the new-version test (``tests/hrgldd_data/hub``): a small FCN through
:class:`HRGLDDSegmentationTask` and :class:`HRGLDDDataModule`, tested with Lightning's own
``Trainer.test``, against ``baselines.evaluate.score_test_sets`` on the same probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

METRICS = ("precision", "recall", "f1", "iou")


def task_probabilities(task, datamodule) -> tuple[np.ndarray, np.ndarray]:
    """Patch indices (ascending) and the task's landslide probabilities of every test patch."""
    from hrgldd_data.torchgeo import HRGLDD

    indices, probs = [], []
    with torch.no_grad():
        for _, dataset in datamodule.test_sets:
            loader = torch.utils.data.DataLoader(dataset, batch_size=5, collate_fn=HRGLDD.collate)
            for batch in loader:
                image = datamodule.aug({"image": batch["image"]})["image"]
                probs.append(task.landslide_probability(task(image)).numpy())
                indices.append(batch["index"].numpy())
    indices, probs = np.concatenate(indices), np.concatenate(probs)
    first = {int(i): n for n, i in reversed(list(enumerate(indices)))}
    keep = sorted(first)
    return np.array(keep), probs[[first[i] for i in keep]]


def check_per_test_set_scores(release_path: Path, **datamodule_kwargs) -> dict[str, dict]:
    """Run the check on a release; returns the evaluator's rows by test set key."""
    from lightning.pytorch import Trainer

    from baselines.evaluate import score_test_sets
    from hrgldd_data.archive import open_archive
    from hrgldd_data.torchgeo import HRGLDDDataModule, HRGLDDSegmentationTask

    torch.manual_seed(0)
    task = HRGLDDSegmentationTask(
        model="fcn", num_filters=8, in_channels=4, task="binary", loss="bce"
    )
    datamodule = HRGLDDDataModule(root=release_path, batch_size=3, **datamodule_kwargs)
    datamodule.setup("test")
    # put the untrained model's decision boundary inside its output range: about half the
    # pixels landslide, so that every test set gets its own, non-trivial score
    task.eval()
    _, probs = task_probabilities(task, datamodule)
    last = [m for m in task.model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        last.bias -= torch.logit(torch.tensor(float(np.median(probs)))).item()
    indices, probs = task_probabilities(task, datamodule)
    assert 0.2 < (probs > 0.5).mean() < 0.8

    trainer = Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    logged = trainer.test(task, datamodule, verbose=False)[0]
    release = open_archive(release_path)
    expected = {
        f"c{row['collection']}/{row['test_set']}": row
        for row in score_test_sets(release, release.test_sets(), indices, probs)
    }
    assert list(task.test_scores) == datamodule.test_set_keys == list(expected)
    f1s = set()
    for key, row in expected.items():
        for metric in METRICS:
            assert task.test_scores[key][metric] == pytest.approx(row[metric], abs=1e-6), key
            assert logged[f"{key}/{metric}"] == pytest.approx(row[metric], abs=1e-6), key
        assert f"{key}/loss" in trainer.logged_metrics
        f1s.add(round(row["f1"], 6))
    assert len(f1s) == len(expected), "each test set has its own score (nothing pooled)"
    assert not [k for k in trainer.logged_metrics if "dataloader_idx" in k]
    return expected

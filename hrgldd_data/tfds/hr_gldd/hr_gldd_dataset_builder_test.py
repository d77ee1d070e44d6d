"""TFDS's own checks of the ``hr_gldd`` builder on the dummy release in ``dummy_data/``.

``DatasetBuilderTestCase`` prepares every split from ``dummy_data/`` (the manual_dir), checks
registration, tags, info, split sizes and a reload, and forbids ``os``/``open`` in the builder
module. Regenerate the dummy data with ``python -m hrgldd_data.tfds.hr_gldd.dummy_data_generation``.
"""

from __future__ import annotations

from tensorflow_datasets import testing

from hrgldd_data.tfds.hr_gldd import hr_gldd_dataset_builder


class HrGlddTest(testing.DatasetBuilderTestCase):
    """The full config, version 1.0.0 of the dummy release."""

    DATASET_CLASS = hr_gldd_dataset_builder.HrGldd
    BUILDER_CONFIG_NAMES_TO_TEST = ["full"]
    VERSION = "1.0.0"  # the dummy release's version; no other release is looked at
    SPLITS = {
        "train": 6,
        "validation": 2,
        "test": 2,
        "test_alpha_2018": 1,
        "test_beta_2019": 1,
        "unseen_gamma_2021": 5,
    }
    # collection 2 re-cuts `test` per site
    OVERLAPPING_SPLITS = ["test_alpha_2018", "test_beta_2019"]


if __name__ == "__main__":
    testing.test_main()

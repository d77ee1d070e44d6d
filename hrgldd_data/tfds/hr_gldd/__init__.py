"""The ``hr_gldd`` TFDS builder; importing this package registers it with TFDS."""

from hrgldd_data.tfds.hr_gldd.hr_gldd_dataset_builder import HrGldd

__all__ = ["HrGldd"]

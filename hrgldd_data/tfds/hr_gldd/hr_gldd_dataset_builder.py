"""hr_gldd: the patches of an HR-GLDD release as a TensorFlow Datasets builder.

The builder never downloads: it reads a local release found, in this order, in ``manual_dir``,
``$HRGLDD_ARCHIVE``, or the cache of versions pulled with ``hrgldd pull`` (see
:func:`hrgldd_data.resolve.locate_release`). The builder version is the release version.

(No ``os`` or ``open`` here: TFDS's test case forbids them in builder modules.)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from hrgldd_data import citation
from hrgldd_data.schema import BANDS, PATCH_SIZE

#: Release versions this builder serves, newest first, with their notes.
RELEASE_NOTES: dict[str, str] = {
    "1.0.0": "The paper's ten events (Meena et al. 2023) built from scenes and inventories: "
    "train/validation/test per site, test_<site> (collection 2) and unseen_<site> (collection 3).",
    "0.9.0": "Import of the published Zenodo arrays (10.5281/zenodo.7189381): train, validation "
    "and test only, site 'unknown', no coordinates (collection 1 only).",
}


@dataclasses.dataclass
class HrGlddConfig(tfds.core.BuilderConfig):
    """Which release to read: ``hr_gldd`` or the synthetic sample ``hr_gldd_sample``."""

    release_name: str = "hr_gldd"


class HrGldd(tfds.core.GeneratorBasedBuilder):
    """HR-GLDD: 128x128 PlanetScope patches (R,G,B,NIR uint16) with binary landslide masks."""

    VERSION = tfds.core.Version(next(iter(RELEASE_NOTES)))
    SUPPORTED_VERSIONS = [tfds.core.Version(v) for v in list(RELEASE_NOTES)[1:]]
    RELEASE_NOTES = RELEASE_NOTES
    BUILDER_CONFIGS = [
        HrGlddConfig(
            name="full", description="The HR-GLDD release (`hr_gldd`).", release_name="hr_gldd"
        ),
        HrGlddConfig(
            name="sample",
            description="The synthetic sample release (`hr_gldd_sample`) for trying the tools; "
            "not for reporting scores.",
            release_name="hr_gldd_sample",
        ),
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
    This builder reads a local HR-GLDD release directory (`<name>-<version>/` with manifest.json);
    it never downloads. Give it one of:
    * `manual_dir`: a release directory or a folder holding releases, e.g.
      `tfds.load("hr_gldd", download_and_prepare_kwargs={"download_config":
      tfds.download.DownloadConfig(manual_dir="/data/releases")})`;
    * the environment variable HRGLDD_ARCHIVE set to such a directory;
    * a version pulled from the Hugging Face Hub with `hrgldd pull --version X.Y.Z`.
    The builder version is the release version (`tfds.load("hr_gldd:1.0.0")`).
    """

    @property
    def canonical_version(self) -> tfds.core.Version:
        """The version asked for: TFDS prepares only its canonical version, to stop new builder
        code from re-making an old version differently; here every version is an immutable
        release read byte for byte, so any declared version may be prepared."""
        return getattr(self, "_version", None) or super().canonical_version

    def _info(self) -> tfds.core.DatasetInfo:
        patch = (PATCH_SIZE, PATCH_SIZE)
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(
                        shape=(*patch, len(BANDS)),
                        dtype=np.uint16,
                        encoding=tfds.features.Encoding.BYTES,
                        doc="Surface reflectance, bands " + ",".join(BANDS),
                    ),
                    "mask": tfds.features.Tensor(
                        shape=(*patch, 1),
                        dtype=np.uint8,
                        encoding=tfds.features.Encoding.BYTES,
                        doc="1 = landslide, 0 = background",
                    ),
                    "site": tfds.features.Text(doc="Event id, 'unknown' for a legacy import"),
                    "patch_id": tfds.features.Text(doc="Stable patch id in the release"),
                    "index": tfds.features.Scalar(dtype=np.int64, doc="Patch index in the release"),
                    "crs": tfds.features.Text(doc="CRS of the patch's scene; empty when unknown"),
                    "bounds": tfds.features.Tensor(
                        shape=(4,),
                        dtype=np.float64,
                        doc="left, bottom, right, top in `crs`; NaN when unknown",
                    ),
                }
            ),
            supervised_keys=("image", "mask"),
            homepage=f"https://doi.org/{citation.ZENODO_DOI}",
            citation=citation.bibtex(),
        )

    def _release_dir(self, dl_manager: tfds.download.DownloadManager) -> Path:
        from hrgldd_data.errors import ReleaseNotFoundError
        from hrgldd_data.resolve import locate_release

        try:
            root = Path(dl_manager.manual_dir)
        except (
            AssertionError
        ):  # manual_dir absent or empty: fall back to $HRGLDD_ARCHIVE, the cache
            root = None
        name = self.builder_config.release_name
        try:
            return locate_release(root, version=str(self.version), name=name)
        except ReleaseNotFoundError as err:
            raise ReleaseNotFoundError(
                f"{err}\nmanual_dir: {root or 'absent or empty'}.\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}"
            ) from err

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        """train/validation/test, then test_<site> (collection 2) and unseen_<site> (collection 3)."""
        from hrgldd_data.archive import open_archive

        path = self._release_dir(dl_manager)
        release = open_archive(path, verify=True)
        if tuple(release.bands) != BANDS:
            raise ValueError(f"{path}: bands {release.bands}; this builder reads {list(BANDS)}")
        splits = {
            "train": release.indices("train"),
            "validation": release.indices("val"),
            "test": release.indices("test"),
        }
        for test_set in release.test_sets((2, 3)):
            prefix = "test" if test_set.collection == 2 else "unseen"
            splits[f"{prefix}_{test_set.name}"] = test_set.indices
        return {
            name: self._generate_examples(path, indices)
            for name, indices in splits.items()
            if indices.size
        }

    def _generate_examples(self, path: Path, indices: np.ndarray):
        """Yield ``(patch_id, example)`` in release order, reading a few hundred patches at a time."""
        from hrgldd_data.archive import open_archive

        release = open_archive(path)
        for index, image, mask in release.iter_patches(indices):
            geo = release.bounds(index)
            yield (
                release.patch_id(index),
                {
                    "image": np.ascontiguousarray(image.transpose(1, 2, 0)),
                    "mask": mask[..., None],
                    "site": release.site_of(index),
                    "patch_id": release.patch_id(index),
                    "index": index,
                    "crs": geo[0] if geo else "",
                    "bounds": np.asarray(geo[1] if geo else [np.nan] * 4, dtype=np.float64),
                },
            )

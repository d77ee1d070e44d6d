"""hr_gldd: the patches of an HR-GLDD release as a TensorFlow Datasets builder.

Builder versions are release versions, and they come from the releases themselves: every version
of the config's release (``hr_gldd`` or ``hr_gldd_sample``) found in ``$HRGLDD_ARCHIVE``,
``./data/releases`` or the cache of versions pulled with ``hrgldd pull`` is a version of the
builder, the newest is the default, and its release notes are the release's own
(:mod:`hrgldd_data.tfds.releases`). A new version needs no code change.

The builder never downloads: it reads a local release found in ``manual_dir`` when given, else
where :func:`hrgldd_data.resolve.locate_release` looks. A release whose name is not the config's
is refused (the sample is ``hr_gldd/sample``, never ``hr_gldd/full``).

Files: ``tfds.load`` reads TFRecord and ``tfds.data_source`` needs a random-access format, so a
prepared version holds both: TFRecord (the TFDS default) and ArrayRecord as an alternative format
recorded in ``dataset_info.json``. Both work with no ``file_format`` argument. Without TensorFlow
the builder writes ArrayRecord only (``tfds.data_source`` needs no TensorFlow).

(No ``os`` or ``open`` here: TFDS's test case forbids them in builder modules.)
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from hrgldd_data import citation
from hrgldd_data.schema import BANDS, PATCH_SIZE, parse_version
from hrgldd_data.tfds import releases

#: The version a config falls back to when no release of its name is found on this machine and
#: none is asked for (the first release built from scenes). Every version found is served.
FALLBACK_VERSION = "1.0.0"
#: Examples read from the archive at a time while preparing.
READ_BATCH = 256


@dataclasses.dataclass
class HrGlddConfig(tfds.core.BuilderConfig):
    """Which release to read: ``hr_gldd`` or the synthetic sample ``hr_gldd_sample``."""

    release_name: str = "hr_gldd"


def _tensorflow_available() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


class HrGldd(tfds.core.GeneratorBasedBuilder):
    """HR-GLDD: 128x128 PlanetScope patches (R,G,B,NIR uint16) with binary landslide masks."""

    VERSION = tfds.core.Version(FALLBACK_VERSION)
    RELEASE_NOTES: dict[str, str] = {}  # per config, from the releases (see _create_builder_config)
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
    * a version pulled from the Hugging Face Hub with `hrgldd pull --version X.Y.Z`;
    * a release built with `hrgldd build ... --out data/releases` (run from that folder's parent);
    * the environment variable HRGLDD_ARCHIVE set to a release directory or a folder of releases;
    * `manual_dir`: a release directory or a folder holding releases, e.g.
      `tfds.load("hr_gldd:1.1.0", download_and_prepare_kwargs={"download_config":
      tfds.download.DownloadConfig(manual_dir="/data/releases")})` (name the version when it
      is not the newest found in the places above).
    Every version found is a builder version (`tfds.load("hr_gldd:1.0.0")`); the newest is the
    default. `hr_gldd/sample` reads the synthetic sample release `hr_gldd_sample`.
    """

    def __init__(self, *, file_format=None, **kwargs) -> None:
        super().__init__(file_format=file_format, **kwargs)
        if (
            file_format is None
            and not _tensorflow_available()
            and self.info.file_format == tfds.core.FileFormat.TFRECORD
            and not self.is_prepared()
        ):  # TFRecord needs TensorFlow to write; ArrayRecord serves tfds.data_source without it
            self.info.set_file_format(tfds.core.FileFormat.ARRAY_RECORD, override=True)

    def _create_builder_config(self, builder_config, version):
        """The class config, with the versions and notes of the releases of its name found here.

        The version asked for is the canonical one (so it may be prepared: every version is an
        immutable release read byte for byte); otherwise the newest found.
        """
        known = self.builder_configs.get(getattr(builder_config, "name", None))
        if known is not None and builder_config.release_name == known.release_name:
            # a config this method made earlier (TFDS reloads with builder.builder_config)
            version = version or builder_config.version
            builder_config = builder_config.name
        config = super()._create_builder_config(builder_config, version)
        if config is None:
            return None
        found = releases.available(config.release_name)
        asked = str(version).removeprefix("v") if version not in (None, "") else None
        exact = asked is not None and "*" not in asked and asked != "experimental_latest"
        if exact:
            parse_version(asked)
        canonical = asked if exact else next(iter(found), FALLBACK_VERSION)
        others = [tfds.core.Version(v) for v in found if v != canonical]
        notes = {v: entry.notes or "(no notes)" for v, entry in found.items()}
        return dataclasses.replace(
            config,
            version=tfds.core.Version(canonical),
            supported_versions=others,
            release_notes=notes,
        )

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

    def download_and_prepare(self, **kwargs) -> None:
        """Prepare as TFDS does, then make sure ArrayRecord is there too for ``data_source``."""
        super().download_and_prepare(**kwargs)
        from hrgldd_data.tfds.formats import add_array_record

        add_array_record(self)

    def _release_dir(self, dl_manager: tfds.download.DownloadManager) -> Path:
        from hrgldd_data.errors import ReleaseNotFoundError

        try:
            manual_dir = Path(dl_manager.manual_dir)
        except AssertionError:  # manual_dir absent or empty: the resolver's places
            manual_dir = None
        name = self.builder_config.release_name
        try:
            return releases.locate(name, str(self.version), manual_dir)
        except ReleaseNotFoundError as err:
            raise ReleaseNotFoundError(
                f"{err}\n{self._other_configs_hint()}manual_dir: {manual_dir or 'not given'}."
                f"\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}"
            ) from err

    def _other_configs_hint(self) -> str:
        """Say which config reads the releases of other names found here, if any."""
        hints = []
        for config in self.BUILDER_CONFIGS:
            if config.release_name == self.builder_config.release_name:
                continue
            versions = list(releases.available(config.release_name))
            if versions:
                hints.append(
                    f"Found {config.release_name} {', '.join(versions)}: that release is read "
                    f"by `{self.name}/{config.name}`, not `{self.name}/{self.builder_config.name}`."
                )
        return "".join(h + "\n" for h in hints)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        """train/validation/test, test_<site> (collection 2), unseen_<site> (collection 3)."""
        from hrgldd_data.archive import open_archive
        from hrgldd_data.errors import ArchiveError
        from hrgldd_data.views import named_splits

        path = self._release_dir(dl_manager)
        release = open_archive(path, verify=True)
        config = self.builder_config
        if (release.name, release.version) != (config.release_name, str(self.version)):
            raise ArchiveError(
                f"{path} holds {release.name} {release.version}, but `{self.name}/{config.name}"
                f":{self.version}` reads {config.release_name} {self.version}; refusing to "
                "prepare it under another name or version"
            )
        if tuple(release.bands) != BANDS:
            raise ArchiveError(
                f"{path}: bands {release.bands}; this builder reads {list(BANDS)} (PlanetScope "
                "R,G,B,NIR releases); use the Parquet view or TorchGeo for other bands"
            )
        return {
            split.name: self._generate_examples(path, split.indices)
            for split in named_splits(release)
        }

    def _generate_examples(self, path: Path, indices: np.ndarray):
        """Yield ``(patch_id, example)`` in release order, decoding whole shards at a time."""
        from hrgldd_data.archive import open_archive
        from hrgldd_data.shards import read_patches

        release = open_archive(path)
        for start in range(0, indices.size, READ_BATCH):
            part = indices[start : start + READ_BATCH]
            images, masks = read_patches(release, part)
            for index, image, mask in zip(part.tolist(), images, masks, strict=True):
                geo = release.bounds(index)
                patch_id = release.patch_id(index)
                yield (
                    patch_id,
                    {
                        "image": np.ascontiguousarray(image.transpose(1, 2, 0)),
                        "mask": mask[..., None],
                        "site": release.site_of(index),
                        "patch_id": patch_id,
                        "index": index,
                        "crs": geo[0] if geo else "",
                        "bounds": np.asarray(geo[1] if geo else [np.nan] * 4, dtype=np.float64),
                    },
                )

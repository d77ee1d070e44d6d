"""Both file formats in one prepared TFDS version: TFRecord for ``tfds.load``, ArrayRecord for
``tfds.data_source``.

TFDS 4.9 writes one format per preparation: ``tfds.load`` (``as_dataset``) reads TFRecord only
and ``tfds.data_source`` needs ArrayRecord (random access). After the builder prepared TFRecord,
:func:`add_array_record` copies the same serialized examples, shard by shard, into ArrayRecord
files beside them and records ArrayRecord as an alternative format in ``dataset_info.json``; TFDS
then picks it for ``data_source`` on its own, also when the version is later loaded from files
without the builder code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def add_array_record(builder: Any) -> bool:
    """Write the ArrayRecord copy of a version prepared as TFRecord; True when written now."""
    from tensorflow_datasets.core import file_adapters

    info = builder.info
    array_record = file_adapters.FileFormat.ARRAY_RECORD
    if (
        not builder.is_prepared()
        or info.file_format != file_adapters.FileFormat.TFRECORD
        or array_record in info.alternative_file_formats
    ):
        return False
    import tensorflow as tf

    adapter = file_adapters.ADAPTER_FOR_FORMAT[array_record]
    for split in info.splits.values():
        template = split.filename_template.replace(filetype_suffix=array_record.file_suffix)
        sources = sorted(split.filename_template.sharded_filepaths(split.num_shards))
        targets = sorted(template.sharded_filepaths(split.num_shards))
        for source, target in zip(sources, targets, strict=True):
            target = Path(os.fspath(target))
            tmp = target.with_name(f".{target.name}.tmp")
            records = tf.data.TFRecordDataset(os.fspath(source)).as_numpy_iterator()
            adapter.write_examples(tmp, ((None, record) for record in records))
            os.replace(tmp, target)
    info.add_alternative_file_format(array_record)
    info.write_to_directory(builder.data_dir, all_metadata=False)
    return True


__all__ = ["add_array_record"]

"""Rapid mapping: turn post-event scenes into landslide probability rasters and polygons.

>>> from mapping import map_scene
>>> result = map_scene("post_event.tif", "runs/unet-default-b4-lr0.001-f16-s0", "maps/")
>>> result.outputs["post_event"]["polygons"], result.summary["landslides"]

``hrgldd map`` is the command; :mod:`mapping.run` documents the flow, :mod:`mapping.infer` the
seamless bounded-memory inference, :mod:`mapping.outputs` the files, :mod:`mapping.score` the
scores against a reference inventory, :mod:`mapping.model` what a model folder must hold.
"""

from mapping.model import MappingModel, load_model
from mapping.run import MapResult, map_scene, map_scenes
from mapping.score import object_scores, score_map

__all__ = [
    "MapResult",
    "MappingModel",
    "load_model",
    "map_scene",
    "map_scenes",
    "object_scores",
    "score_map",
]

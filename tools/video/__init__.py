"""Video ingestion: probing, frame-exact sampling, keyframe passes, zoom-ins and chunk plans.

Import cost is small (numpy, pydantic); PyAV and decord load inside the functions that use them.
"""

from .chunks import (
    Chunk,
    ChunkPlan,
    Segment,
    chunk_plan_for,
    plan_chunks,
    plan_key,
    scene_boundaries,
)
from .decode import (
    DECODERS,
    DEFAULT_DECODER,
    Frame,
    decode_interval,
    keyframe_frames,
    rate_times,
    resolve_decoder,
    sample_frames,
    sample_rate,
)
from .probe import PacketIndex, SubtitleStream, VideoProbe, packet_index, probe

__all__ = [
    "DECODERS",
    "DEFAULT_DECODER",
    "Chunk",
    "ChunkPlan",
    "Frame",
    "PacketIndex",
    "Segment",
    "SubtitleStream",
    "VideoProbe",
    "chunk_plan_for",
    "decode_interval",
    "keyframe_frames",
    "packet_index",
    "plan_chunks",
    "plan_key",
    "probe",
    "rate_times",
    "resolve_decoder",
    "sample_frames",
    "sample_rate",
    "scene_boundaries",
]

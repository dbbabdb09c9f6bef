"""Reads the RecordBatch v2 headers of a partition's segment files.

Sluice stores batches as producers sent them (`DATA/topics/NAME/P/*.log`,
see the README), so a test can check on disk what a client really sent,
such as the compression codec, which no consumer can observe.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

# RecordBatch v2 header fields used here, as (byte position, struct format).
BASE_OFFSET = (0, ">q")
BATCH_LENGTH = (8, ">i")  # bytes after this field
MAGIC = (16, ">b")
ATTRIBUTES = (21, ">h")
RECORD_COUNT = (57, ">i")
HEADER_BYTES = 61
CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


@dataclass(frozen=True)
class BatchHeader:
    base_offset: int
    record_count: int
    codec: str


def field(data: bytes, position: int, spec: tuple[int, str]) -> int:
    offset, fmt = spec
    return struct.unpack_from(fmt, data, position + offset)[0]


def batch_headers(partition_dir: Path) -> list[BatchHeader]:
    """Every batch header in the partition's `.log` files, in offset order."""
    headers = []
    for segment in sorted(partition_dir.glob("*.log")):
        data = segment.read_bytes()
        position = 0
        while position + HEADER_BYTES <= len(data):
            magic = field(data, position, MAGIC)
            assert magic == 2, f"{segment} byte {position}: magic {magic}, expected RecordBatch v2"
            headers.append(
                BatchHeader(
                    base_offset=field(data, position, BASE_OFFSET),
                    record_count=field(data, position, RECORD_COUNT),
                    codec=CODECS.get(field(data, position, ATTRIBUTES) & 0x7, "unknown"),
                )
            )
            position += 12 + field(data, position, BATCH_LENGTH)
    return headers

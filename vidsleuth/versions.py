"""Version strings of stored artifacts: a stable hash of what produced them.

Every producer (a perceiver, a featuriser, a memory builder) keys what it writes into the store
by a version built here from its model id and parameters, so changing either makes new artifacts
appear beside the old ones.  It lives in the core package because producers of every layer need
it and none of them may import the store's layer for it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def version_of(**params: Any) -> str:
    """A short, stable hash of a producer's model id, prompt hash and parameters.

    Stable across processes and Python versions (sorted JSON, not ``hash()``), so the same
    settings always find the same stored artifacts.
    """
    blob = json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2b(blob.encode(), digest_size=6).hexdigest()

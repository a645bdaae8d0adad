"""Per-rank error records: one JSON file per failed rank in ``PARNRN_ERROR_DIR``.

Written by the rank that fails (``failfast.abort``) or, for a rank stuck inside NEURON, by
its watchdog relay. The earliest ``time`` across the files is the failure that came first,
as in PyTorch elastic's error files.
"""

from __future__ import annotations

import os
import sys
import time

from ..ranks import rank_tag


def write_record(
    rank: int, size: int, reason: str, detail: str, code: int, kind: str, message: str
) -> str | None:
    """Write this rank's error record into ``PARNRN_ERROR_DIR``; return its path.

    One JSON file per rank, ``rank<r>.json``. Does nothing (returns None) when the
    variable is unset.

    Example::

        write_record(1, 4, "unhandled ValueError", traceback_text, 1, "ValueError", "bad")
    """
    directory = os.environ.get("PARNRN_ERROR_DIR")
    if not directory:
        return None
    # Imported here: only a failing rank pays for them, not every `import parnrn`.
    import json
    import socket
    from datetime import datetime, timezone

    now = time.time()
    record = {
        "time": now,
        "time_iso": datetime.fromtimestamp(now, timezone.utc).isoformat(),
        "rank": rank,
        "size": size,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "reason": reason,
        "exit_status": code,
        "type": kind,
        "message": message,
        "traceback": detail,
        "argv": sys.argv,
    }
    path = os.path.join(directory, f"rank{rank}.json")
    try:
        os.makedirs(directory, exist_ok=True)
        with open(path + ".tmp", "w") as out:
            json.dump(record, out, indent=1)
        os.replace(path + ".tmp", path)  # readers never see half a record
    except OSError as error:
        sys.stderr.write(f"{rank_tag(rank, size)} parnrn: cannot write {path}: {error}\n")
        return None
    return path

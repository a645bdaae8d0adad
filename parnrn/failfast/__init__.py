"""Job-level failure policy: when one rank fails, end the whole job at once and loudly.

``abort`` holds the policy (excepthook, exits, the exit agreement), ``records`` the per-rank
JSON error records, ``watchdog`` the relay for ranks stuck inside NEURON. Built on the
transport's agreement protocol; knows nothing of NEURON.
"""

from .abort import (
    abort,
    call_inside,
    ended,
    exit_status,
    fail,
    hint_for_none,
    install,
    installed,
    leave_together,
)
from .crash import stacks_on_termination

__all__ = [
    "abort",
    "call_inside",
    "ended",
    "exit_status",
    "fail",
    "hint_for_none",
    "install",
    "installed",
    "leave_together",
    "stacks_on_termination",
]

"""What an optimisation scenario prints on rank 0 for the test to compare."""

import json


def print_result(hall_of_fame, population, logbook) -> None:
    """The hall of fame, the final population and the logbook as one JSON line."""
    result = {
        "hall_of_fame": [list(ind) for ind in hall_of_fame],
        "population": [[list(ind), list(ind.fitness.values)] for ind in population],
        "logbook": [{k: repr(v) for k, v in row.items()} for row in logbook],
    }
    print("@result " + json.dumps(result), flush=True)

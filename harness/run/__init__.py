"""Running cells: the session (discovery, models, run directory), the device x model x variant x
engine grid, one cell's measurement into a record, and the end of a run (report, latest).

Downstream of ``models``, ``devices`` and ``engines``; upstream of ``results`` and ``report``.
"""

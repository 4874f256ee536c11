"""Run data -> plain dicts (model.py) -> HTML (write.py + templates) and terminal text (summary.py)."""

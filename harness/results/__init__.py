"""Measurement records, their storage and their statistics."""

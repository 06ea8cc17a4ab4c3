"""Protocols: a suite, a method and a run config in; a run record out."""

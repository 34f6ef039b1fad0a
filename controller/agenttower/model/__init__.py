"""Manifests: the pydantic resources, strict YAML loading, validation and built-ins.

Imports nothing else of agenttower, so every layer can share its types and errors.
"""

"""The project's YANG modules, shipped as package data (importable as ``ike_yang``)."""

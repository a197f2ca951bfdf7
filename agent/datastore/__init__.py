"""Datastores, edit semantics, validation and the commit pipeline."""

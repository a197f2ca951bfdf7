"""Datastores, edit semantics, validation and the commit pipeline.

- :mod:`.store`: :class:`Datastore`, the running and candidate datastores (the public API).
- :mod:`.schema`: the libyang context and a data-node index of the YANG modules.
- :mod:`.edit`: ``<edit-config>`` semantics on lxml trees, journalled for undo.
- :mod:`.validation`: libyang validation (chunked, incremental) and PKI checks.
- :mod:`.commit`: the two-phase commit to subscribers (:mod:`.subscriber`).
- :mod:`.persist`: ``running.xml``, its history and :class:`DatastoreLoadError`.
- :mod:`.locator`, :mod:`.serialize`, :mod:`.paths`: policy lookup, partial serialisation,
  error paths.
"""

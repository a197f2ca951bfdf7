"""Datastores, edit semantics, validation and the commit pipeline.

- :mod:`.store`: :class:`Datastore`, the running and candidate datastores (the public API).
- :mod:`.schema`: the libyang context and a data-node index of the YANG modules.
- :mod:`.changes`: change sets, what an edit or a commit changed (public: subscribers,
  notifications, compare and NACM read them).
- :mod:`.edit`: ``<edit-config>`` semantics on lxml trees, through a :mod:`.journal`
  (redo, undo, change set and commit record of one edit).
- :mod:`.keyindex`: list entries by key, for every list.
- :mod:`.validation`: libyang validation (incremental) and PKI checks; :mod:`.chunks`: what
  libyang is given, found from the schema (independent lists in chunks).
- :mod:`.commit`: the two-phase commit to subscribers (:mod:`.subscriber`).
- :mod:`.commitlog`: persistence, a snapshot plus an append-only commit log; recovery.
- :mod:`.persist`: the stored file format, the confirmed-commit rollback record and
  :class:`DatastoreLoadError`.
- :mod:`.paths`: instance-identifiers.
"""

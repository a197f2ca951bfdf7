"""Fixtures for the datastore tests: the schema and datastores on a temporary state dir."""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from typing import Any

import pytest

from agent.datastore.schema import Schema
from agent.datastore.store import Datastore

from .builders import SEED, config


@pytest.fixture(scope="session")
def schema() -> Schema:
    return Schema.load()


@pytest.fixture
def make_datastore(schema: Schema, tmp_path: pathlib.Path) -> Callable[..., Datastore]:
    def make(**kwargs: Any) -> Datastore:
        return Datastore(schema, tmp_path / "state", **kwargs)
    return make


@pytest.fixture
def datastore(make_datastore: Callable[..., Datastore]) -> Datastore:
    return make_datastore()


@pytest.fixture
def seeded(datastore: Datastore) -> Datastore:
    datastore.edit_config(config(SEED))
    datastore.commit()
    return datastore

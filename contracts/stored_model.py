"""The base of the pydantic read models: a model stored as one DynamoDB item."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict

from contracts import dynamodb


class StoredModel(BaseModel):
    """A model stored as a DynamoDB item under its aliases (the names AppSync and Amplify use).

    Writing is strict (``extra="forbid"``): userpipe never stores an attribute it does not
    declare. Reading is tolerant: a stored item may carry attributes the model does not know (a
    migration, a console edit, a later version of userpipe); ``from_item`` leaves them out —
    never echoed, never an error — so one such item cannot break a read or a page of reads.
    """

    model_config = ConfigDict(populate_by_name=True, frozen=True, extra="forbid")

    def to_item(self) -> dynamodb.Item:
        return dynamodb.to_item(self.model_dump(by_alias=True, mode="json"))

    @classmethod
    def from_item(cls, item: Mapping[str, Mapping[str, Any]]) -> Self:
        known = cls.stored_names()
        return cls.model_validate(
            dynamodb.from_item({name: value for name, value in item.items() if name in known})
        )

    @classmethod
    def stored_names(cls) -> frozenset[str]:
        """The attribute names this model is stored under."""
        return frozenset(field.alias or name for name, field in cls.model_fields.items())

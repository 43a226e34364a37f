"""The ``User`` item AppSync serves, as a pydantic read model generated from the field table
(``contracts.user_fields``): the API, the tools and the JSON Schema file read through it.

The projector writes its items in plain Python (``contracts.user_item``), from the same table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Self, cast

from pydantic import ConfigDict, Field, create_model, model_validator
from pydantic.fields import FieldInfo

from contracts.names import OWNER_ATTRIBUTE, USER_KEY, UserConfirmedDetail
from contracts.stored_model import StoredModel
from contracts.user_fields import USER_FIELDS, UserField
from contracts.user_item import first_version_item

if TYPE_CHECKING:
    # Only named in a signature: importing the event models builds every event's pydantic
    # model (about half of the user API's import time under ``-X importtime``), and nothing
    # that reads a User needs them.
    from contracts.event_models import UserConfirmed


class UserModel(StoredModel):
    """A user as AppSync serves it. The projector creates it; only the API changes it."""

    model_config = ConfigDict(title="User")

    if TYPE_CHECKING:
        # The fields are the table's (``User`` below); to a type checker they read as Any.
        def __getattr__(self, name: str) -> Any: ...

    @model_validator(mode="after")
    def _owned_by_its_id(self) -> Self:
        """An owner's filter on ``id`` is evaluated on ``owner`` (DynamoDB refuses a Query's
        filter on its key; ``services.user_api.store``), which is right only while the two
        are equal: an item where they differ is never served."""
        if getattr(self, OWNER_ATTRIBUTE) != getattr(self, USER_KEY):
            raise ValueError(f"{OWNER_ATTRIBUTE}: must equal {USER_KEY}")
        return self

    @classmethod
    def first_version(cls, event: UserConfirmed, email: str) -> Self:
        """The item for a newly confirmed user whose email Cognito holds as ``email``, as the
        projector writes it."""
        detail = cast(UserConfirmedDetail, event.model_dump(by_alias=True, mode="json"))
        return cls.from_item(first_version_item(detail, email))


def _declared(field: UserField) -> tuple[Any, FieldInfo]:
    """One row of the field table as a pydantic field: its type, rule, alias and marks."""
    python_type: Any = Literal[field.fixed] if field.fixed is not None else field.type
    default: Any = field.fixed if field.fixed is not None else (... if field.required else None)
    extra: dict[str, Any] = {"x-sensitive": True} if field.sensitive else {}
    constraints = field.rule.constraints() if field.rule is not None else {}
    declared = Field(
        default,
        alias=None if field.name == field.attribute else field.name,
        description=field.about,
        json_schema_extra=extra or None,
        **constraints,
    )
    return (python_type if field.required else python_type | None), declared


if TYPE_CHECKING:
    User = UserModel
else:
    User = create_model(
        "User",
        __base__=UserModel,
        __module__=__name__,
        __doc__=UserModel.__doc__,
        **{field.attribute: _declared(field) for field in USER_FIELDS},
    )

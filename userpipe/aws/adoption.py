"""What ``userpipe adopt`` reads and writes on a deployment, through the functions' own adapters:
the recipe's table (read only), the User table (read only: the projector writes it), Cognito (a
user by sub, as every function reads one), the users' data keys and the bus. ``userpipe/ops``
imports nothing from ``services/``: it reaches them through here."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Final

from contracts import dynamodb
from contracts.names import USER_KEY
from contracts.user_profile_changed import seal_context
from services.reconcile.store import PUT_EVENTS_BATCH, backoff
from services.shared.cognito_users import PoolUser, find_by_sub
from services.shared.key_shredder import DynamoKeyShredder
from services.shared.user_keys import DynamoKeyStore
from userpipe.aws.deployment import Deployment
from userpipe.errors import OperatorError

__all__ = ["PoolUser", "Sides"]

#: BatchGetItem reads at most 100 keys a call (DynamoDB API reference, BatchGetItem).
BATCH_GET: Final = 100


class Sides:
    """Both tables, Cognito, the keys and the bus of one deployment."""

    def __init__(
        self,
        deployment: Deployment,
        source_table: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        clients = deployment.clients
        self._dynamodb, self._cognito, self._events = (
            clients.dynamodb,
            clients.cognito,
            clients.events,
        )
        self.user_pool_id = deployment.output("user_pool_id")
        self.user_table = deployment.output("user_table_name")
        self.source_table = source_table
        self.bus_name = deployment.output("event_bus_name")
        keys_table = deployment.output("keys_table_name")
        self.keys = DynamoKeyStore(self._dynamodb, keys_table)
        self.shredder = DynamoKeyShredder(self._dynamodb, keys_table)
        self._sleep = sleep
        if source_table == self.user_table:
            raise OperatorError(
                f"{source_table} is this deployment's own User table: adopt copies from the "
                "recipe's table into it"
            )

    def source_size(self) -> int:
        """The recipe table's item count (DynamoDB updates it about every six hours: a
        progress bar's total, never a check). A missing table is an operator's error."""
        try:
            table = self._dynamodb.describe_table(TableName=self.source_table)["Table"]
        except self._dynamodb.exceptions.ResourceNotFoundException:
            raise OperatorError(
                f"no table {self.source_table} here: name the recipe's User table "
                "(User-<apiId>-<env>) in this deployment's account and region"
            ) from None
        return int(table.get("ItemCount", 0))

    def source_pages(self, page_size: int) -> Iterator[list[dict[str, Any]]]:
        """The recipe's items as plain values, a consistent ``Scan`` page at a time."""
        paginator = self._dynamodb.get_paginator("scan")
        request = {"TableName": self.source_table, "ConsistentRead": True, "Limit": page_size}
        for page in paginator.paginate(**request):  # type: ignore[arg-type]
            yield [dynamodb.from_item(item) for item in page.get("Items", [])]

    def ours(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The User items of ``ids`` (plain values), read consistently; absent ids are not in
        the answer. Unprocessed keys are asked again."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), BATCH_GET):
            keys: Any = [
                {USER_KEY: {"S": sub}} for sub in dict.fromkeys(ids[start : start + BATCH_GET])
            ]
            attempt = 0
            while keys:
                if attempt:
                    self._sleep(backoff(attempt))
                request: Any = {self.user_table: {"Keys": keys, "ConsistentRead": True}}
                answer = self._dynamodb.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.user_table, []):
                    values = dynamodb.from_item(item)
                    found[str(values[USER_KEY])] = values
                unprocessed: Any = answer.get("UnprocessedKeys", {})
                keys = unprocessed.get(self.user_table, {}).get("Keys", [])
                attempt += 1
        return found

    def seal_profile(self, sub: str, profile: Mapping[str, Any], version: int) -> str | None:
        """``profile`` sealed under the user's data key, bound to the user and ``version`` as a
        profile change's is; ``None`` when the user has no key (``adopt`` made it before reading
        Cognito: gone since means the user was erased, and nothing is sealed again)."""
        # Imported here: ``cryptography`` loads only when something is sealed (not --dry-run).
        from services.shared.sealing import seal_json

        key = self.keys.get(sub)
        if key is None:
            return None
        context = seal_context(self.user_pool_id, sub, version)
        return seal_json(key, dict(profile), context=context)

    def cognito_user(self, sub: str) -> PoolUser | None:
        """The pool's user ``sub`` now (``None``: not in the pool)."""
        return find_by_sub(self._cognito, self.user_pool_id, sub)

    def publish(self, entries: Sequence[Mapping[str, str]], attempts: int = 3) -> list[int]:
        """Put ``entries`` (``PutEvents`` entries) on the bus, ten a call, each failed entry
        tried again; the indexes of those that never went."""
        failed: list[int] = []
        for start in range(0, len(entries), PUT_EVENTS_BATCH):
            pending = list(range(start, min(start + PUT_EVENTS_BATCH, len(entries))))
            for attempt in range(attempts):
                if attempt:
                    self._sleep(backoff(attempt))
                try:
                    answer = self._events.put_events(
                        Entries=[dict(entries[index]) for index in pending]  # type: ignore[misc]
                    )
                except self._events.exceptions.ClientError:
                    continue
                results = answer.get("Entries", [])
                pending = [
                    index
                    for index, result in zip(pending, results, strict=False)
                    if not result.get("EventId")
                ] + pending[len(results) :]
                if not pending:
                    break
            failed += pending
        return failed

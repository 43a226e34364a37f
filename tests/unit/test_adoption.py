"""Adopting a recipe app's records: the decision for each item (``userpipe.ops.adopt.decide``)
over every combination a recipe table, userpipe's table and Cognito can hold, and the projector's
``UserAdopted`` — created, merged, replayed in any order, exactly."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from contracts import dynamodb
from contracts.adoption import read_user_adopted, user_adopted_detail
from contracts.event_fields import InvalidEventError
from contracts.names import REPLAY_MARK, USER_ADOPTED, iso_utc
from contracts.user_fields import PROFILE_FIELDS
from contracts.user_profile_changed import seal_context
from services.shared.cognito_users import PoolUser
from services.shared.sealing import seal_json
from services.shared.user_keys import MemoryKeyStore
from services.user_projector.handler import process_batch
from tests.support import (
    FakeIdentity,
    FakeProjectorStore,
    projector_sources,
    sqs_event,
    user_confirmed_envelope,
)
from tests.unit.test_user_projector_changes import profiles  # every value the rules accept
from userpipe.ops.adopt import decide, decided_without_cognito, recipe_problems

POOL = "eu-west-1_Ab12Cd34E"  # tests/support.EVENT_POOL
SUB = "7d8ca528-4931-4254-9273-ea5ee853f271"
NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
EMAIL = "ada@example.com"
TABLE = "User-abcdefghijklmnopqrstuvwxyz-dev"


def cognito(email: str | None = EMAIL) -> PoolUser:
    return PoolUser(SUB, "CONFIRMED", email, True, NOW - timedelta(days=400))


def recipe_item(version: int = 1, **values: Any) -> dict[str, Any]:
    """A recipe item as the Amplify Gen 1 transformer's table holds it (no pool, no owner)."""
    created = NOW - timedelta(days=300)
    return {
        "id": SUB,
        "__typename": "User",
        "email": EMAIL,
        "createdAt": iso_utc(created),
        "updatedAt": iso_utc(created + timedelta(days=version)),
        "_version": version,
        "_lastChangedAt": int((created + timedelta(days=version)).timestamp() * 1000),
        **values,
    }


def our_item(version: int = 1, **values: Any) -> dict[str, Any]:
    """A userpipe item of the same user (the pipeline's first version, unless told)."""
    created = NOW - timedelta(days=1)
    return {
        "id": SUB,
        "__typename": "User",
        "owner": SUB,
        "userPoolId": POOL,
        "email": EMAIL,
        "createdAt": iso_utc(created),
        "updatedAt": iso_utc(created),
        "_version": version,
        "_lastChangedAt": int(created.timestamp() * 1000),
        **values,
    }


def decided(recipe: dict[str, Any], ours: dict[str, Any] | None, user: PoolUser | None = None):  # type: ignore[no-untyped-def]
    return decide(recipe, ours, user or cognito(), user_pool_id=POOL, now=NOW)


# --- the decision, example by example ---------------------------------------------------------


def test_a_recipe_item_alone_is_adopted_at_its_own_version_with_its_history() -> None:
    recipe = recipe_item(3, name="Ada", age=36)
    decision = decided(recipe, None)
    assert decision.kind == "adopted"
    assert decision.state == {
        name: recipe[name]
        for name in ("createdAt", "updatedAt", "_version", "_lastChangedAt", "name", "age")
    }


def test_a_recipe_item_whose_email_cognito_no_longer_holds_is_adopted_one_version_up() -> None:
    decision = decided(recipe_item(3, email="old@example.com"), None)
    assert (decision.kind, decision.version) == ("adopted", 4)
    assert decision.state and decision.state["_lastChangedAt"] == int(NOW.timestamp() * 1000)


def test_an_item_without_conflict_detection_is_the_first_version() -> None:
    recipe = recipe_item()
    del recipe["_version"], recipe["_lastChangedAt"]
    decision = decided(recipe, None)
    assert decision.state and decision.state["_version"] == 1
    updated = datetime.fromisoformat(recipe["updatedAt"])
    assert decision.state["_lastChangedAt"] == int(updated.timestamp() * 1000)


def test_a_confirmations_bare_first_item_is_replaced_by_the_recipes_at_its_version() -> None:
    recipe = recipe_item(1, name="Ada")
    decision = decided(recipe, our_item(1))
    assert decision.kind == "merged"
    assert decision.state and decision.state["_version"] == 1  # the recipe's clients' version
    assert (decision.state["name"], decision.state["createdAt"]) == ("Ada", recipe["createdAt"])


def test_a_recipe_ahead_keeps_a_field_it_cleared_cleared() -> None:
    adopted = our_item(3, name="Ada", _adoptedFrom=f"{TABLE}#3")
    adopted["createdAt"] = recipe_item()["createdAt"]
    decision = decided(recipe_item(4), adopted)  # the name cleared through the recipe's API
    assert decision.kind == "merged" and decision.state
    assert (decision.state["_version"], decision.state["name"]) == (4, None)


def test_a_password_reset_rewriting_the_recipes_item_does_not_undo_its_adoption() -> None:
    """The recipe's trigger overwrites the item on ConfirmForgotPassword (version 1 again, a new
    createdAt, no name): the adopted record is ahead and keeps everything."""
    first = recipe_item(3, name="Ada")
    adopted = our_item(3, name="Ada", _adoptedFrom=f"{TABLE}#3")
    adopted["createdAt"] = first["createdAt"]
    reset = recipe_item(1) | {"createdAt": iso_utc(NOW - timedelta(hours=1))}
    assert decided(reset, adopted).kind == "unchanged"


def test_a_recipe_ahead_of_the_pipeline_keeps_its_version_when_the_result_is_its_own() -> None:
    recipe = recipe_item(4, name="Ada", age=36)
    decision = decided(recipe, our_item(1))
    assert (decision.kind, decision.version) == ("merged", 4)
    assert decision.state and decision.state["_lastChangedAt"] == recipe["_lastChangedAt"]


def test_a_userpipe_item_ahead_of_the_recipe_keeps_its_profile() -> None:
    ours = our_item(5, name="Ada L.")
    ours["createdAt"] = recipe_item()["createdAt"]
    assert decided(recipe_item(2, name="Ada"), ours).kind == "unchanged"


def test_a_tombstone_in_userpipe_is_never_brought_back() -> None:
    tombstone = our_item(3, _deleted=True, _ttl=int(NOW.timestamp()) + 100)
    del tombstone["email"]
    assert decided(recipe_item(7, name="Ada"), tombstone).kind == "deletedHere"


def test_a_user_the_pool_does_not_have_is_reported_not_adopted() -> None:
    assert decide(recipe_item(), None, None, user_pool_id=POOL, now=NOW).kind == "notInPool"


def test_an_item_of_another_pool_is_left_alone() -> None:
    assert decided(recipe_item(), our_item(userPoolId="us-east-1_Other")).kind == "foreignPool"


def test_a_datastore_deleted_item_becomes_a_tombstone_at_its_version_with_its_ttl() -> None:
    ttl = int(NOW.timestamp()) + 86_400
    decision = decided(recipe_item(3, _deleted=True, _ttl=ttl), None, None)
    assert decision.kind == "tombstoned"
    assert decision.state and (decision.state["_version"], decision.state["expiresAt"]) == (3, ttl)


def test_an_expired_tombstone_is_not_copied() -> None:
    ttl = int(NOW.timestamp()) - 1
    assert decided(recipe_item(3, _deleted=True, _ttl=ttl), None).kind == "expired"


def test_a_recipe_deletion_older_than_the_userpipe_item_is_reported() -> None:
    ttl = int(NOW.timestamp()) + 86_400
    assert decided(recipe_item(2, _deleted=True, _ttl=ttl), our_item(3)).kind == "newerHere"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"id": "ada@example.com"}, "id"),
        ({"__typename": "Post"}, "__typename"),
        ({"createdAt": "yesterday"}, "createdAt"),
        ({"_version": 0}, "_version"),
        ({"_version": "3"}, "_version"),
        ({"age": -4}, "age"),
        ({"_deleted": "yes"}, "_deleted"),
    ],
)
def test_an_item_breaking_a_rule_is_invalid_naming_the_field_never_the_value(
    values: dict[str, Any], field: str
) -> None:
    decision = decided(recipe_item(**values), None)
    assert decision.kind == "invalid"
    assert decision.reason and decision.reason.startswith(f"{field}:")
    for value in values.values():
        if isinstance(value, str):
            assert value not in decision.reason


# --- the decision, over the whole input space --------------------------------------------------


moments = st.integers(-400, -1).map(lambda days: NOW + timedelta(days=days, seconds=days * 7))


@st.composite
def recipes(draw: st.DrawFn) -> dict[str, Any]:
    created = draw(moments)
    version = draw(st.integers(1, 9))
    item = recipe_item(version, **{k: v for k, v in draw(profiles).items() if v is not None})
    item["createdAt"] = iso_utc(created)
    item["email"] = draw(st.sampled_from([EMAIL, "old@example.com"]))
    if draw(st.booleans()) and version > 1:
        item["_deleted"] = True
        item["_ttl"] = int(NOW.timestamp()) + draw(st.integers(-100, 10_000))
    return item


@st.composite
def ours_items(draw: st.DrawFn) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    item = our_item(draw(st.integers(1, 9)), **{k: v for k, v in draw(profiles).items() if v})
    item["createdAt"] = iso_utc(draw(moments))
    if draw(st.booleans()):
        item["_adoptedFrom"] = f"{TABLE}#{item['_version']}"
    if draw(st.integers(0, 5)) == 0:
        del item["email"]
        item |= {"_deleted": True, "_ttl": int(NOW.timestamp()) + 1000}
    return item


def bare(item: dict[str, Any]) -> bool:
    return (
        item["_version"] == 1
        and "_adoptedFrom" not in item
        and all(item.get(name) is None for name in PROFILE_FIELDS)
    )


def projected(ours: dict[str, Any] | None, decision: Any) -> dict[str, Any] | None:
    """What the table holds once the decision's event is applied (the projector's rule: the
    higher version wins, an adoption also over a confirmation's bare first item; a tombstone
    removes the personal fields)."""
    state = decision.state
    if state is None:
        return ours
    over_first = decision.kind != "tombstoned" and ours is not None and bare(ours)
    if ours is not None and ours["_version"] >= state["_version"] and not over_first:
        return ours
    base = dict(ours or our_item())
    if decision.kind == "tombstoned":
        for name in ("email", *PROFILE_FIELDS):
            base.pop(name, None)
        return (
            base
            | {k: state[k] for k in ("createdAt", "updatedAt", "_version")}
            | {
                "_lastChangedAt": state["_lastChangedAt"],
                "_deleted": True,
                "_ttl": state["expiresAt"],
            }
        )
    for name in PROFILE_FIELDS:
        base.pop(name, None)
    mark = {"_adoptedFrom": f"{TABLE}#{state['_version']}"}
    return base | {k: v for k, v in state.items() if v is not None} | {"email": EMAIL} | mark


@settings(max_examples=400, deadline=None)
@given(recipe=recipes(), ours=ours_items(), in_pool=st.booleans())
def test_whatever_both_tables_hold_a_second_run_finds_nothing_to_do(
    recipe: dict[str, Any], ours: dict[str, Any] | None, in_pool: bool
) -> None:
    user = cognito() if in_pool else None
    first = decide(recipe, ours, user, user_pool_id=POOL, now=NOW)
    after = projected(ours, first)
    second = decide(recipe, after, user, user_pool_id=POOL, now=NOW + timedelta(minutes=5))
    assert second.kind not in {"adopted", "merged", "tombstoned"}, (first, second)


@settings(max_examples=400, deadline=None)
@given(recipe=recipes(), ours=ours_items(), in_pool=st.booleans(), invalid=st.booleans())
def test_an_item_decided_without_cognito_is_decided_as_cognito_would_have_it(
    recipe: dict[str, Any], ours: dict[str, Any] | None, in_pool: bool, invalid: bool
) -> None:
    """A run asks Cognito only where its answer can matter: whatever Cognito holds, the
    decision made without it is decide's, or (the user gone) ``notInPool`` where nothing is
    published either. A second run over a settled table asks nothing."""
    if invalid:
        recipe = recipe | {"_version": 0}
    user = cognito() if in_pool else None
    full = decide(recipe, ours, user, user_pool_id=POOL, now=NOW)
    without = decided_without_cognito(recipe, ours, user_pool_id=POOL, now=NOW)
    if without is not None:
        assert without.kind not in {"adopted", "merged"}
        assert without == full or (user is None and full.kind == "notInPool"), (without, full)
    settled = projected(ours, full)
    again = decided_without_cognito(recipe, settled, user_pool_id=POOL, now=NOW)
    if full.kind in {"adopted", "merged", "tombstoned", "unchanged"} and in_pool:
        assert again is not None and again.kind not in {"adopted", "merged", "tombstoned"}


@settings(max_examples=400, deadline=None)
@given(recipe=recipes(), ours=ours_items())
def test_an_adoption_never_lowers_a_version_nor_loses_the_recipes_profile_when_it_is_ahead(
    recipe: dict[str, Any], ours: dict[str, Any] | None
) -> None:
    decision = decide(recipe, ours, cognito(), user_pool_id=POOL, now=NOW)
    if decision.state is None:
        return
    assert decision.version is not None
    assert decision.version >= recipe["_version"]
    if ours is not None and not recipe.get("_deleted"):
        if bare(ours):
            assert decision.version >= ours["_version"]
        else:
            assert decision.version > ours["_version"]
        if recipe["_version"] > ours["_version"] or bare(ours):
            for name in PROFILE_FIELDS:  # ahead: the recipe's profile whole, cleared or not
                assert decision.state[name] == recipe.get(name)
        elif recipe["_version"] == ours["_version"]:
            for name in PROFILE_FIELDS:
                if recipe.get(name) is not None:
                    assert decision.state[name] == recipe[name]
        adopted_before = "_adoptedFrom" in ours
        kept = ours["createdAt"] if adopted_before else recipe["createdAt"]
        assert decision.state["createdAt"] == kept
    if ours is not None and ours.get("_deleted"):
        assert decision.kind != "merged"


@settings(max_examples=200, deadline=None)
@given(recipe=recipes())
def test_every_valid_recipe_item_is_decided_without_error(recipe: dict[str, Any]) -> None:
    assert recipe_problems(recipe) == []
    for ours in (None, our_item(1), our_item(12)):
        for user in (None, cognito()):
            decide(recipe, ours, user, user_pool_id=POOL, now=NOW)


# --- the projector's UserAdopted ----------------------------------------------------------------

KEYS = MemoryKeyStore()


def adopted_envelope(
    state: dict[str, Any], sub: str = SUB, *, replay_name: str | None = None
) -> dict[str, Any]:
    """An EventBridge ``UserAdopted`` for ``state`` (the decision's), sealed under ``KEYS``."""
    profile = {name: state.get(name) for name in PROFILE_FIELDS}
    sealed = seal_json(
        KEYS.get_or_create(sub), profile, context=seal_context(POOL, sub, state["_version"])
    )
    detail = user_adopted_detail(POOL, sub, state, sealed, TABLE)
    envelope = user_confirmed_envelope(sub, replay_name=replay_name)
    envelope["detail-type"], envelope["detail"] = USER_ADOPTED, detail
    envelope["id"] = (
        f"{random.Random(json.dumps(detail)).getrandbits(32):08x}-0000-4000-8000-000000000000"
    )
    return envelope


def deliver(
    store: FakeProjectorStore, context: Any, *envelopes: dict[str, Any], sources: Any = None
) -> list[str]:
    failed = []
    for envelope in envelopes:
        answer = process_batch(
            sqs_event(envelope), context, store, sources or projector_sources(keys=KEYS)
        )
        failed += [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]
    return failed


def test_an_adoption_creates_the_item_at_the_recipes_version_with_cognitos_email(
    lambda_context: Any,
) -> None:
    state = decided(recipe_item(3, name="Ada", age=36, email="old@example.com"), None).state
    assert state is not None
    store = FakeProjectorStore()
    assert deliver(store, lambda_context, adopted_envelope(state)) == []
    item = dynamodb.from_item(store.items[SUB])
    assert item == {
        "id": SUB,
        "__typename": "User",
        "owner": SUB,
        "userPoolId": POOL,
        "email": "ada@example.com",  # Cognito's, whatever the recipe held
        "name": "Ada",
        "age": 36,
        **{k: state[k] for k in ("createdAt", "updatedAt", "_version", "_lastChangedAt")},
        "_adoptedFrom": f"{TABLE}#4",  # which adoption: the recipe's table, the version
    }
    assert REPLAY_MARK not in store.items[SUB]  # live: new to the table, audited and announced


def test_an_adoption_over_a_lower_version_replaces_the_profile_and_history(
    lambda_context: Any,
) -> None:
    store = FakeProjectorStore()
    deliver(store, lambda_context, user_confirmed_envelope(SUB))
    state = {**recipe_item(4, name="Ada")}
    state = {k: state[k] for k in ("createdAt", "updatedAt", "_version", "_lastChangedAt", "name")}
    state["age"] = None
    deliver(store, lambda_context, adopted_envelope(state))
    item = dynamodb.from_item(store.items[SUB])
    assert (item["_version"], item["name"], item["createdAt"]) == (4, "Ada", state["createdAt"])
    assert "age" not in item


def test_an_adoption_of_a_user_gone_from_cognito_or_erased_writes_nothing(
    lambda_context: Any,
) -> None:
    state = decided(recipe_item(2, name="Ada"), None).state
    assert state is not None
    identity = FakeIdentity()
    identity.gone.add(SUB)
    store = FakeProjectorStore()
    deliver(
        store, lambda_context, adopted_envelope(state), sources=projector_sources(identity, KEYS)
    )
    assert store.items == {}
    deliver(
        store,
        lambda_context,
        adopted_envelope(state),
        sources=projector_sources(keys=MemoryKeyStore()),
    )
    assert store.items == {}


def test_an_adoption_event_with_a_bad_field_is_refused_naming_it() -> None:
    with pytest.raises(InvalidEventError, match="adoptedFrom"):
        user_adopted_detail(POOL, SUB, recipe_item(), "v1.abc", "no spaces allowed")
    envelope = adopted_envelope(decided(recipe_item(), None).state or {})
    envelope["detail"]["_version"] = 0
    with pytest.raises(InvalidEventError, match="_version"):
        read_user_adopted(json.dumps(envelope))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    recipe=recipes().filter(lambda item: not item.get("_deleted")),
    seed=st.randoms(use_true_random=False),
    replay_name=st.sampled_from([None, "rebuild-1"]),
)
def test_a_merged_adoption_and_the_confirmation_before_it_leave_one_item_in_any_order(
    recipe: dict[str, Any],
    seed: random.Random,
    replay_name: str | None,
    lambda_context: Any,
) -> None:
    """The pipeline confirmed the user (its item at version 1), adopt merged the recipe's record
    over it; replaying both in either order, any number of times, leaves the live result."""
    recipe["email"] = EMAIL
    live = FakeProjectorStore()
    confirmation = user_confirmed_envelope(SUB)
    deliver(live, lambda_context, confirmation)
    ours = dynamodb.from_item(live.items[SUB])
    decision = decide(recipe, ours, cognito(), user_pool_id=POOL, now=NOW)
    assume(decision.state is not None)  # unchanged: nothing published, nothing to replay
    assert decision.state is not None
    adoption = adopted_envelope(decision.state)
    deliver(live, lambda_context, adoption)

    rebuilt = FakeProjectorStore()
    events = [confirmation, adoption] * seed.randint(1, 2)
    if seed.random() < 0.5:  # reconcile's confirmation, stamped with Cognito's (earlier) date
        events.append(user_confirmed_envelope(SUB) | {"detail": {**confirmation["detail"],
                      "confirmedAt": "2020-01-01T00:00:00.000Z"}})  # fmt: skip
    seed.shuffle(events)
    for envelope in events:
        copy = json.loads(json.dumps(envelope))
        if replay_name:
            copy["replay-name"] = replay_name
        assert deliver(rebuilt, lambda_context, copy) == []
    assert rebuilt.items == live.items


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    recipe=recipes().filter(lambda item: not item.get("_deleted")),
    confirmed_at=moments,
    seed=st.randoms(use_true_random=False),
)
def test_an_adoption_and_a_confirmation_it_did_not_see_give_one_item_in_any_order(
    recipe: dict[str, Any], confirmed_at: datetime, seed: random.Random, lambda_context: Any
) -> None:
    """adopt read no userpipe item; reconcile or user_sync then confirmed the user (Cognito's
    creation date, any moment). Live and in a rebuild, in either order, the adoption's item."""
    recipe["email"] = EMAIL
    decision = decide(recipe, None, cognito(), user_pool_id=POOL, now=NOW)
    assert decision.state is not None
    adoption = adopted_envelope(decision.state)
    confirmation = user_confirmed_envelope(SUB)
    confirmation["detail"]["confirmedAt"] = iso_utc(confirmed_at)
    results = []
    for order in ([adoption, confirmation], [confirmation, adoption]):
        store = FakeProjectorStore()
        assert deliver(store, lambda_context, *order) == []
        results.append(dynamodb.from_item(store.items[SUB]))
    assert results[0] == results[1]
    assert results[0]["createdAt"] == recipe["createdAt"]
    assert results[0]["_version"] == decision.state["_version"]


# --- a run, on fakes --------------------------------------------------------------------------


class FakeKeys(dict[str, bytes]):
    """The keys table: a user's key by id."""

    def get_or_create(self, sub: str) -> bytes:
        return self.setdefault(sub, b"k" * 32)


class FakeSides:
    """``userpipe.aws.adoption.Sides`` in memory: the recipe's items, userpipe's table (the
    projector applies each published event on the next read, unless ``lost``), Cognito's users
    and the keys. ``fail_first`` makes PutEvents refuse that many entries once."""

    user_pool_id = POOL
    source_table = TABLE
    bus_name = "userpipe-test-bus"

    def __init__(self, recipe: list[dict[str, Any]], users: dict[str, str]) -> None:
        self.recipe, self.users = recipe, users
        self.table: dict[str, dict[str, Any]] = {}
        self.keys = FakeKeys()
        self.destroyed: list[str] = []
        self.inbox: list[dict[str, Any]] = []
        self.published: list[dict[str, Any]] = []
        self.lost: set[str] = set()
        self.delete_after_read: set[str] = set()
        self.shredder = self

    def source_size(self) -> int:
        return len(self.recipe)

    def source_pages(self, page_size: int) -> Any:
        for start in range(0, len(self.recipe), page_size):
            yield [dict(item) for item in self.recipe[start : start + page_size]]

    def ours(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        self._project()
        return {sub: dict(self.table[sub]) for sub in ids if sub in self.table}

    def cognito_user(self, sub: str) -> PoolUser | None:
        email = self.users.get(sub)
        user = None if email is None else PoolUser(sub, "CONFIRMED", email, True, NOW)
        if sub in self.delete_after_read:
            self.users.pop(sub, None)
            self.delete_after_read.discard(sub)
        return user

    def seal_profile(self, sub: str, profile: dict[str, Any], version: int) -> str | None:
        if sub not in self.keys:
            return None
        return "v1." + json.dumps(profile, sort_keys=True).encode().hex()

    def destroy(self, sub: str) -> bool:
        self.destroyed.append(sub)
        return self.keys.pop(sub, None) is not None

    def publish(self, entries: list[dict[str, str]]) -> list[int]:
        for entry in entries:
            event = {"detail-type": entry["DetailType"], "detail": json.loads(entry["Detail"])}
            self.published.append(event)
            self.inbox.append(event)
        return []

    def _project(self) -> None:
        """The projector's rule, enough for a run: the higher version wins, a gone user or a
        destroyed key writes nothing."""
        for event in self.inbox:
            detail = event["detail"]
            sub = detail["sub"]
            if sub in self.lost or (sub not in self.users and event["detail-type"] == USER_ADOPTED):
                continue
            old = self.table.get(sub)
            if old is not None and old["_version"] >= detail["_version"]:
                continue
            item = {"id": sub, "userPoolId": POOL, "owner": sub, "email": self.users.get(sub)}
            item |= {k: detail[k] for k in ("createdAt", "updatedAt", "_version", "_lastChangedAt")}
            if event["detail-type"] == USER_ADOPTED:
                item |= json.loads(bytes.fromhex(detail["sealedProfile"][3:]))
                item["_adoptedFrom"] = f"{detail['adoptedFrom']}#{detail['_version']}"
            else:
                item |= {"_deleted": True, "_ttl": detail["expiresAt"], "email": None}
            self.table[sub] = {k: v for k, v in item.items() if v is not None}
        self.inbox = []


def subs(count: int) -> list[str]:
    return [f"{index:08x}-0000-4000-8000-000000000000" for index in range(count)]


def recipe_of(users: list[str]) -> list[dict[str, Any]]:
    """Three kinds of recipe item in turn: first versions, edited ones, DataStore-deleted."""
    items = []
    for index, sub in enumerate(users):
        if index % 3 == 0:
            items.append(recipe_item(1) | {"id": sub})
        elif index % 3 == 1:
            items.append(recipe_item(3, name=f"User {index}", age=index % 90) | {"id": sub})
        else:
            ttl = int(NOW.timestamp()) + 86_400
            items.append(recipe_item(4, _deleted=True, _ttl=ttl) | {"id": sub})
    return items


def run_on(sides: FakeSides, **options: Any) -> Any:
    from userpipe.ops import adopt
    from userpipe.ops.progress import Recorded

    clock = [0.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    return adopt.run(
        Any,  # type: ignore[arg-type]  # the deployment: only Sides reads it
        TABLE,
        Recorded(),
        sides=sides,  # type: ignore[arg-type]
        clock=lambda: NOW,
        sleep=sleep,
        monotonic=lambda: clock[0],
        rate=1000,
        **options,
    )


def test_a_run_adopts_each_kind_and_a_second_run_finds_nothing_to_do() -> None:
    users = subs(30)
    sides = FakeSides(recipe_of(users), dict.fromkeys(users[:-3], EMAIL))
    first = run_on(sides)
    assert first.counts["adopted"] == 18  # live items, users in the pool
    assert first.counts["tombstoned"] == 10  # deleted items, in the pool or not
    assert first.counts["notInPool"] == 2
    assert (first.published, first.landed, first.pending, first.complete) == (28, 28, [], True)
    for item in sides.recipe:
        if item["id"] in sides.table and not item.get("_deleted"):
            assert sides.table[item["id"]]["_version"] == item["_version"]
            assert sides.table[item["id"]].get("name") == item.get("name")
    published = len(sides.published)
    second = run_on(sides)
    assert second.counts["unchanged"] == 28
    assert (second.published, len(sides.published)) == (0, published)


def test_a_second_run_asks_cognito_about_no_user_it_already_holds() -> None:
    users = subs(30)
    sides = FakeSides(recipe_of(users), dict.fromkeys(users, EMAIL))
    run_on(sides)
    asked: list[str] = []
    read = sides.cognito_user
    sides.cognito_user = lambda sub: asked.append(sub) or read(sub)  # type: ignore[method-assign]
    second = run_on(sides)
    assert second.counts["unchanged"] == 30 and asked == []


def test_a_dry_run_publishes_nothing_and_makes_no_key() -> None:
    users = subs(9)
    sides = FakeSides(recipe_of(users), dict.fromkeys(users, EMAIL))
    summary = run_on(sides, dry_run=True)
    assert summary.counts["adopted"] == 6 and summary.published == 0
    assert sides.published == [] and sides.keys == {} and sides.destroyed == []


def test_a_run_reports_what_did_not_reach_the_table_in_time() -> None:
    users = subs(6)
    sides = FakeSides(recipe_of(users), dict.fromkeys(users, EMAIL))
    sides.lost = {users[0]}
    summary = run_on(sides, wait_seconds=3)
    assert summary.pending == [users[0]] and not summary.complete


def test_a_user_deleted_after_the_run_read_them_keeps_no_key() -> None:
    users = subs(3)
    sides = FakeSides(recipe_of(users), dict.fromkeys(users, EMAIL))
    sides.delete_after_read = {users[1]}
    summary = run_on(sides, wait_seconds=30)
    assert users[1] not in sides.keys and users[1] in sides.destroyed
    assert (summary.gone, summary.pending, summary.complete) == (1, [], True)


# --- what a review found (each failed before its fix) -------------------------------------------


def test_an_adoption_landing_on_a_confirmations_first_item_is_applied_not_a_fork(
    lambda_context: Any,
) -> None:
    state = decided(recipe_item(1, name="Ada"), None).state
    assert state is not None
    store = FakeProjectorStore()
    assert deliver(store, lambda_context, user_confirmed_envelope(SUB)) == []
    assert deliver(store, lambda_context, adopted_envelope(state)) == []
    item = dynamodb.from_item(store.items[SUB])
    assert (item["_version"], item["name"], item["createdAt"]) == (1, "Ada", state["createdAt"])


def test_a_merged_adoption_one_version_up_is_announced_not_taken_for_an_api_edit() -> None:
    from services.change_publisher.logic import Announcement, publication

    created = recipe_item(3)["createdAt"]
    ours = our_item(3, name="B", createdAt=created, _adoptedFrom=f"{TABLE}#3")
    decision = decided(recipe_item(3, name="C"), ours)
    assert decision.kind == "merged" and decision.version == 4 and decision.state
    new = {**ours, **{k: v for k, v in decision.state.items() if v is not None}}
    new["_adoptedFrom"] = f"{TABLE}#4"  # what the projector writes with it
    record = {
        "eventName": "MODIFY",
        "dynamodb": {"OldImage": dynamodb.to_item(ours), "NewImage": dynamodb.to_item(new)},
    }
    found = publication(record, MemoryKeyStore(), lambda sub: False)
    assert [type(action) for action in found] == [Announcement]


def test_a_user_deleted_and_tombstoned_during_a_merge_keeps_no_key() -> None:
    (sub,) = subs(1)
    recipe = recipe_item(2, name="Ada") | {"id": sub}
    ours = our_item(2, name="Ada L.") | {"id": sub}  # the user edited in userpipe: a merge

    class DeletedAfterTheRead(FakeSides):
        def cognito_user(self, asked: str) -> Any:
            user = super().cognito_user(asked)
            if asked == sub and user is not None:  # deleted now: user_sync's erasure
                self.users.pop(sub)
                self.keys.pop(sub, None)
                tombstone = {k: v for k, v in self.table[sub].items() if k != "email"}
                self.table[sub] = tombstone | {"_version": 3, "_deleted": True, "_ttl": 1}
            return user

    sides = DeletedAfterTheRead([recipe], {sub: EMAIL})
    sides.table[sub] = ours
    summary = run_on(sides, wait_seconds=30)
    assert sub not in sides.keys
    assert (summary.published, summary.gone, summary.complete) == (0, 1, True)

"""GraphQL over HTTP at ``graphql_url``, answering as AppSync does.

- Requests are parsed and validated against ``contracts/schema.graphql`` by graphql-core; a
  query that does not parse or validate gets AppSync's error shape (``data: null``, ``errors``
  with ``locations``), HTTP 400; graphql-core words the messages, not AppSync.
- ``Authorization`` carries a Cognito ID or access token (Amplify JS sends the access token),
  verified as AppSync does (``userpipe.local.jwt_verification``); a missing, forged, unsigned,
  expired, other-pool or other-client token is HTTP 401 with ``UnauthorizedException``, and
  never reaches the resolver. A SigV4-signed request is an IAM caller once its signature holds
  against the stack's credentials (``userpipe.local.iam``); a bad one is HTTP 403 with AppSync's
  ``InvalidSignatureException`` / ``IncompleteSignatureException`` /
  ``UnrecognizedClientException`` (amplify-js#2422, aws-mobile-appsync-sdk-js#702 and #750 show
  AppSync's answers).
- The schema's auth directives are enforced per field (``@aws_cognito_user_pools``,
  ``@aws_iam``; a field without any takes its type's, else Cognito, the default mode).
- Each root field invokes the API's function sandbox with the event AppSync sends a direct
  Lambda resolver — arguments, an identity built from the verified claims, the request's
  headers, ``info`` with ``selectionSetList`` — and applies ``contracts/resolver.js``'s
  contract to the answer: ``{"data"}`` is the field's value, ``{"error"}`` a GraphQL error with
  its ``errorType`` and ``data`` (filtered by the field's selection, as AppSync filters it).
  A function that fails as a whole shows as ``Lambda:Unhandled``, as in AppSync.
- The ``publishUser*`` mutations are local resolvers, as on AppSync (``contracts/publish.js``):
  their result is their input.
- A mutation's result — the fields it selected, as AppSync publishes it — goes to the
  subscriptions whose ``@aws_subscribe`` names it (``SubscriptionHub``); ``subscribe`` runs a
  subscription's resolver when a client subscribes over the real-time endpoint
  (``userpipe.local.realtime``), which decides whether it may and with which filter.
- CORS is the port's business (``userpipe.local.guard``): only the stack's own origins, and
  those it was told to allow, get an answer a browser lets a page read.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    InlineFragmentNode,
    OperationType,
    SelectionSetNode,
    default_field_resolver,
    execute_sync,
    get_operation_ast,
    parse,
    print_ast,
    validate,
)

from contracts.appsync import (
    ERROR_KEY,
    PUBLISH_MUTATIONS,
    RESULT_KEY,
    SUBSCRIPTION_FILTER_KEY,
    load_schema,
    subscribed_mutations,
)
from userpipe.local import iam
from userpipe.local.iam import SignatureError, SignatureVerifier, SignedRequest
from userpipe.local.jwt_verification import InvalidTokenError, TokenVerifier
from userpipe.local.sandbox import ACCOUNT, FunctionSandbox
from userpipe.local.scalars import appsync_scalars

COGNITO: Final = "aws_cognito_user_pools"
IAM: Final = "aws_iam"
#: Validated documents the endpoint keeps (see ``GraphqlEndpoint._document``).
DOCUMENTS_KEPT: Final = 256
#: Longer queries are validated each time and never kept: a document's syntax tree is about
#: 130 bytes per byte of its text, and any signed-in user may send 6 MB of aliases.
DOCUMENT_KEPT_AT_MOST: Final = 16 * 1024

logger = logging.getLogger(__name__)
Info = GraphQLResolveInfo[dict[str, Any]]  # the context: caller, headers, variables
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class AppSyncError(GraphQLError):
    """An error as AppSync reports it: a message, an ``errorType`` and optional ``data``."""

    def __init__(self, message: str, error_type: str | None, data: Any = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.data = data


class Caller:
    def __init__(self, mode: str, identity: dict[str, Any]) -> None:
        self.mode = mode  # COGNITO or IAM
        self.identity = identity


@dataclass(frozen=True)
class Subscription:
    """A subscription its resolver accepted: what it listens to, and how it is answered."""

    field: str  # onCreateUser, ...
    arguments: dict[str, Any]
    filter: dict[str, Any] | None  # the resolver's enhanced filter (Amplify's input shape)
    document: DocumentNode
    variables: dict[str, Any]
    operation_name: str | None


class SubscriptionHub:
    """Who listens to what, and delivery: a mutation's published result goes to each
    subscription of a field naming that mutation whose arguments and filter match it. Each
    subscription's ``send`` is called with its payload from the thread that ran the mutation;
    the real-time endpoint routes it to the subscription's socket."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self._schema = schema
        self._fields_of = subscribed_mutations(schema)
        self._lock = threading.Lock()
        self._listening: dict[object, tuple[Subscription, Callable[[dict[str, Any]], None]]] = {}

    def add(
        self, key: object, subscription: Subscription, send: Callable[[dict[str, Any]], None]
    ) -> None:
        with self._lock:
            self._listening[key] = (subscription, send)

    def remove(self, key: object) -> bool:
        with self._lock:
            return self._listening.pop(key, None) is not None

    def __len__(self) -> int:
        with self._lock:
            return len(self._listening)

    def publish(self, mutation: str, value: Mapping[str, Any]) -> int:
        """Deliver ``value`` (a mutation's result) to every matching subscription; how many."""
        fields = set(self._fields_of.get(mutation, ()))
        with self._lock:
            listening = [
                (subscription, send)
                for subscription, send in self._listening.values()
                if subscription.field in fields
            ]
        delivered = 0
        for subscription, send in listening:
            if not _arguments_match(subscription.arguments, value) or not filter_matches(
                subscription.filter, value
            ):
                continue
            try:
                send(self.render(subscription, value))
            except Exception:  # one subscriber's failure never fails the mutation or the others
                logger.exception("a subscription delivery failed")
                continue
            delivered += 1
        return delivered

    def render(self, subscription: Subscription, value: Mapping[str, Any]) -> dict[str, Any]:
        """The subscription's selection of ``value``; what the mutation did not select is null
        (AppSync publishes the mutation's result, not the item)."""
        result = execute_sync(
            self._schema,
            subscription.document,
            root_value={subscription.field: dict(value)},
            variable_values=subscription.variables,
            operation_name=subscription.operation_name,
            field_resolver=default_field_resolver,
        )
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [_appsync_error(error) for error in result.errors]
        return payload


def _arguments_match(arguments: Mapping[str, Any], value: Mapping[str, Any]) -> bool:
    """AppSync's argument filtering: each argument given (but ``filter``) equals the field of
    the same name in the published result."""
    return all(
        given is None or (name in value and str(value[name]) == str(given))
        for name, given in arguments.items()
        if name != "filter"
    )


def filter_matches(spec: Mapping[str, Any] | None, value: Mapping[str, Any]) -> bool:
    """An enhanced subscription filter (Amplify's ModelSubscription*FilterInput shape, as
    ``util.transform.toSubscriptionFilter`` takes it) against a published result: fields AND
    together; ``and``/``or`` take lists; the operators of one field are ORed ("When a field has
    two or more conditions on it, all of these conditions are considered to use the OR
    operation": AppSync developer guide, "Transformation helpers in util.transform"), unlike in
    a list filter. A field the result lacks matches only ``ne`` and ``notIn``/``notContains``.
    The resolver has already held ``spec`` to AppSync's limits
    (``services/user_api/subscription_filters.py``)."""
    if not spec:
        return True
    for name, condition in spec.items():
        if name == "and":
            if not all(filter_matches(part, value) for part in condition or ()):
                return False
        elif name == "or":
            parts = list(condition or ())
            if parts and not any(filter_matches(part, value) for part in parts):
                return False
        elif isinstance(condition, Mapping):
            given = [(op, operand) for op, operand in condition.items() if operand is not None]
            if given and not any(_holds(op, operand, value.get(name)) for op, operand in given):
                return False
    return True


def _holds(op: str, operand: Any, actual: Any) -> bool:
    if operand is None:
        return True  # an operator given as null is not a condition (GraphQL input)
    if op == "ne":
        return bool(actual != operand)
    if op == "notIn":
        return actual not in operand
    if op == "notContains":
        return actual is None or operand not in actual
    if actual is None:
        return False
    try:
        match op:
            case "eq":
                return bool(actual == operand)
            case "lt":
                return bool(actual < operand)
            case "le":
                return bool(actual <= operand)
            case "gt":
                return bool(actual > operand)
            case "ge":
                return bool(actual >= operand)
            case "between":
                low, high = operand
                return bool(low <= actual <= high)
            case "in":
                return actual in operand
            case "contains":
                return operand in actual
            case "beginsWith":
                return isinstance(actual, str) and actual.startswith(operand)
    except (TypeError, ValueError):
        return False
    return False


class GraphqlEndpoint:
    def __init__(
        self,
        *,
        verifier: TokenVerifier,
        signatures: SignatureVerifier,
        resolver: FunctionSandbox,
        schema: GraphQLSchema | None = None,
        region: str,
    ) -> None:
        self.schema = appsync_scalars(schema or load_schema())  # AWSTimestamp etc. as AppSync
        self.hub = SubscriptionHub(self.schema)
        self._verifier = verifier
        self._signatures = signatures
        self._resolver = resolver
        self._region = region
        self._documents: dict[str, DocumentNode] = {}  # valid documents by query text
        self._documents_lock = threading.Lock()

    # --- HTTP -----------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "OPTIONS":  # a preflight the port let through (userpipe.local.guard)
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        if method != "POST":
            return _json(start_response, 405, {"errors": [{"message": "Use POST."}]})
        environ, raw = iam.read_body(environ)
        try:
            caller = self.caller(iam.signed_request(environ, raw), _client(environ))
        except InvalidTokenError as refused:
            body = {"errors": [{"errorType": "UnauthorizedException", "message": refused.message}]}
            return _json(start_response, 401, body)
        except SignatureError as refused:
            body = {"errors": [{"errorType": refused.code, "message": refused.message}]}
            return _json(start_response, 403, body, error_type=refused.code)
        try:
            request = json.loads(raw or b"{}")
            if not isinstance(request, dict) or not isinstance(request.get("query"), str):
                raise ValueError("the body must be a JSON object with a query")
        except ValueError as exc:
            body = {"errors": [{"errorType": "MalformedHttpRequestException", "message": str(exc)}]}
            return _json(start_response, 400, body)
        status, answer = self.execute(request, caller, _headers(environ))
        return _json(start_response, status, answer)

    def caller(self, request: SignedRequest, remote_address: str) -> Caller:
        """Who sent ``request``: a Cognito token's user, or an IAM principal whose SigV4
        signature holds. Raises ``InvalidTokenError`` or ``SignatureError`` as AppSync refuses."""
        source_ip = [remote_address]
        authorization = request.header("authorization") or ""
        if iam.is_signed(authorization):
            principal = self._signatures.verify(request, explain=True)
            return Caller(
                IAM,
                {
                    "accountId": ACCOUNT,
                    "cognitoIdentityAuthProvider": None,
                    "cognitoIdentityAuthType": None,
                    "cognitoIdentityId": None,
                    "cognitoIdentityPoolId": None,
                    "sourceIp": source_ip,
                    "userArn": principal.arn,
                    "username": principal.access_key_id,
                },
            )
        claims = self._verifier.verify(authorization)
        groups = claims.get("cognito:groups")
        return Caller(
            COGNITO,
            {
                "sub": claims["sub"],
                "issuer": claims["iss"],
                "username": claims.get("cognito:username") or claims.get("username"),
                "claims": claims,
                "sourceIp": source_ip,
                "defaultAuthStrategy": "ALLOW",
                "groups": list(groups) if isinstance(groups, list) else None,
            },
        )

    # --- GraphQL --------------------------------------------------------------------------------

    def execute(
        self, request: Mapping[str, Any], caller: Caller, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, Any]]:
        document = self._document(request)
        if isinstance(document, list):
            return 400, {"data": None, "errors": document}
        operation = get_operation_ast(document, request.get("operationName"))
        if operation is not None and operation.operation is OperationType.SUBSCRIPTION:
            refusal = {
                "errorType": "UnsupportedOperation",
                "message": "Subscriptions are served over the real-time endpoint "
                "(the GraphQL URL + /realtime), not HTTP.",
            }
            return 400, {"data": None, "errors": [refusal]}
        published: list[tuple[str, Any]] = []
        result = self._run(document, request, caller, headers, published=published)
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [_appsync_error(error) for error in result.errors]
        for mutation, value in published:
            self.hub.publish(mutation, value)
        return 200, answer

    def subscribe(
        self, request: Mapping[str, Any], caller: Caller, headers: Mapping[str, str]
    ) -> Subscription | list[dict[str, Any]]:
        """Run a subscription's resolver, as AppSync does when a client subscribes: the
        subscription it accepted, or the errors to answer."""
        document = self._document(request)
        if isinstance(document, list):
            return document
        operation = get_operation_ast(document, request.get("operationName"))
        if operation is None or operation.operation is not OperationType.SUBSCRIPTION:
            return [
                {
                    "errorType": "UnsupportedOperation",
                    "message": "Only a subscription may be started over the real-time endpoint.",
                }
            ]
        subscribed: list[tuple[str, dict[str, Any], Any]] = []
        result = self._run(document, request, caller, headers, subscribed=subscribed)
        if result.errors:
            return [_appsync_error(error) for error in result.errors]
        if len(subscribed) != 1:
            return [
                {
                    "errorType": "UnsupportedOperation",
                    "message": "Subscribe to exactly one field per subscription.",
                }
            ]
        ((field, arguments, spec),) = subscribed
        variables = request.get("variables")
        return Subscription(
            field,
            arguments,
            spec,
            document,
            variables if isinstance(variables, dict) else {},
            request.get("operationName"),
        )

    def _document(self, request: Mapping[str, Any]) -> DocumentNode | list[dict[str, Any]]:
        """The request's query, parsed and validated against the schema, or AppSync's errors.

        A valid document is kept by its text (``DOCUMENTS_KEPT`` of them): a frontend sends the
        same few documents again and again, and validating one costs about 1 ms here
        (graphql-core), most of what a ``me`` call spends outside its resolver
        (``python -m bench.feel``). The schema never changes while the endpoint runs and
        execution only reads a document, so the kept one answers exactly as a fresh one would.
        """
        query = request["query"]
        if isinstance(query, str) and (kept := self._documents.get(query)) is not None:
            return kept
        try:
            document = parse(query)
        except GraphQLError as error:
            return [_appsync_error(error)]
        problems = validate(self.schema, document)
        if problems:
            return [_appsync_error(e) for e in problems]
        if isinstance(query, str) and len(query) <= DOCUMENT_KEPT_AT_MOST:
            with self._documents_lock:
                if len(self._documents) >= DOCUMENTS_KEPT:
                    self._documents.pop(next(iter(self._documents)))  # the oldest
                self._documents[query] = document
        return document

    def _run(
        self,
        document: DocumentNode,
        request: Mapping[str, Any],
        caller: Caller,
        headers: Mapping[str, str],
        **collect: list[Any],
    ) -> ExecutionResult:
        """Execute ``document`` with the resolvers; ``collect``: lists the resolvers fill
        (``published``: mutation results; ``subscribed``: accepted subscriptions)."""
        variables = request.get("variables") or {}
        return execute_sync(
            self.schema,
            document,
            root_value=None,
            context_value={
                "caller": caller,
                "headers": dict(headers),
                "variables": variables,
                **collect,
            },
            variable_values=variables if isinstance(variables, dict) else {},
            operation_name=request.get("operationName"),
            field_resolver=self._resolve,
        )

    def _resolve(self, source: Any, info: Info, **arguments: Any) -> Any:
        caller: Caller = info.context["caller"]
        parent = info.parent_type
        field = parent.fields[info.field_name]
        allowed = _modes(field.ast_node) or _modes(parent.ast_node) or {COGNITO}
        if caller.mode not in allowed:
            raise AppSyncError(
                f"Not Authorized to access {info.field_name} on type {parent.name}",
                "Unauthorized",
            )
        roots = (self.schema.query_type, self.schema.mutation_type, self.schema.subscription_type)
        if parent not in roots:
            return source.get(info.field_name) if isinstance(source, Mapping) else None
        if parent is self.schema.mutation_type and info.field_name in PUBLISH_MUTATIONS:
            value = arguments["input"]  # a local resolver (contracts/publish.js)
        else:
            value = self._invoke_resolver(info, arguments, caller)
        if parent is self.schema.mutation_type and isinstance(value, Mapping):
            # What AppSync publishes: the result, as far as the mutation selected it.
            selection = [
                p for node in info.field_nodes for p in _selection(node.selection_set, info)
            ]
            info.context["published"].append((info.field_name, _filtered(value, selection)))
        return value

    def _invoke_resolver(self, info: Info, arguments: dict[str, Any], caller: Caller) -> Any:
        selection = [
            path for node in info.field_nodes for path in _selection(node.selection_set, info)
        ]
        event = {
            "arguments": arguments,
            "identity": caller.identity,
            "source": None,
            "request": {"headers": info.context["headers"], "domainName": None},
            "prev": None,
            "info": {
                "parentTypeName": info.parent_type.name,
                "fieldName": info.field_name,
                "variables": info.context["variables"],  # as sent, as AppSync passes them
                "selectionSetList": selection,
                "selectionSetGraphQL": "".join(
                    print_ast(node.selection_set) for node in info.field_nodes if node.selection_set
                ),
            },
            "stash": {},
        }
        invocation = self._resolver.invoke(event)
        if not invocation.ok:
            error = invocation.error or {}
            raise AppSyncError(error.get("errorMessage", ""), "Lambda:Unhandled")
        answer = invocation.result if isinstance(invocation.result, Mapping) else {}
        if answer.get(ERROR_KEY):
            failure = answer[ERROR_KEY]
            raise AppSyncError(
                str(failure.get("message", "")),
                failure.get("type"),
                _filtered(failure.get("data"), selection),
            )
        if info.parent_type is self.schema.subscription_type:
            spec = answer.get(SUBSCRIPTION_FILTER_KEY)
            info.context["subscribed"].append((info.field_name, arguments, spec))
        return answer.get(RESULT_KEY)


def _modes(node: Any) -> set[str]:
    directives = getattr(node, "directives", None) or ()
    return {d.name.value for d in directives if d.name.value in (COGNITO, IAM)}


def _selection(selection_set: SelectionSetNode | None, info: Info, prefix: str = "") -> list[str]:
    """AppSync's ``selectionSetList``: every selected field's path, ``items/id`` style."""
    paths: list[str] = []
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            path = f"{prefix}{selection.name.value}"
            if selection.name.value != "__typename":
                paths.append(path)
            paths += _selection(selection.selection_set, info, f"{path}/")
        elif isinstance(selection, InlineFragmentNode):
            paths += _selection(selection.selection_set, info, prefix)
        elif isinstance(selection, FragmentSpreadNode):
            paths += _selection(info.fragments[selection.name.value].selection_set, info, prefix)
    return paths


def _filtered(data: Any, selection: list[str]) -> Any:
    """Error data keeps only the selected fields (AppSync filters it by the selection set)."""
    if not isinstance(data, Mapping) or not selection:
        return data
    kept: dict[str, Any] = {}
    for path in selection:
        name, _, rest = path.partition("/")
        if not rest and name in data:
            kept[name] = data[name]
    return kept


def _appsync_error(error: GraphQLError) -> dict[str, Any]:
    # graphql-core wraps what a resolver raised in an error that knows the path and location.
    cause = error.original_error if isinstance(error.original_error, AppSyncError) else error
    return {
        "path": list(error.path) if error.path else None,
        "data": getattr(cause, "data", None),
        "errorType": getattr(cause, "error_type", None),
        "errorInfo": None,
        "locations": [
            {"line": location.line, "column": location.column, "sourceName": None}
            for location in error.locations or ()
        ],
        "message": error.message,
    }


def _headers(environ: Mapping[str, Any]) -> dict[str, str]:
    """The request's headers as AppSync hands them to a resolver, with its request id."""
    return {**iam.environ_headers(environ), "x-amzn-requestid": str(uuid.uuid4())}


def _client(environ: Mapping[str, Any]) -> str:
    return str(environ.get("REMOTE_ADDR", "127.0.0.1"))


def _json(
    start_response: Callable[..., Any], status: int, body: Any, *, error_type: str | None = None
) -> list[bytes]:
    data = json.dumps(body).encode()
    reasons = {
        200: "OK",
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        405: "Method Not Allowed",
    }
    headers = [
        ("Content-Type", "application/json; charset=UTF-8"),
        ("Content-Length", str(len(data))),
    ]
    if error_type:
        headers.append(("x-amzn-ErrorType", error_type))
    start_response(f"{status} {reasons.get(status, 'Error')}", headers)
    return [data]

"""The one place that defines userpipe's shapes, names and wiring.

Plain Python, for the cold paths: ``names``, ``rules``, ``topology``, ``settings``,
``dynamodb``, the field tables ``user_fields``, ``event_fields`` and ``audit_fields`` (their
kinds of value in ``fields``), and the write shapes ``user_item``, ``audit_item`` and
``user_confirmed``. The pydantic read models, generated from the tables: ``event_models``
(``UserConfirmed``), ``user_model``, ``audit_model``. Nothing here imports any other part of
userpipe, and none of it does I/O: the code functions share at run time is ``services/shared``.
"""

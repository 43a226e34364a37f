"""The one place that defines userpipe's shapes, names and wiring.

Plain Python, for the cold paths: ``names``, ``rules``, ``topology``, ``settings``, ``dynamodb``,
the field table ``user_fields``, and the write shapes ``user_item``, ``audit_item`` and
``user_confirmed``. The pydantic read models: ``events`` (``UserConfirmed``), ``user_model``
(generated from ``user_fields``), ``audit_model``. Nothing here imports any other part of
userpipe, and none of it does I/O: the code functions share at run time is
``services/shared``.
"""

"""The one place that defines userpipe's shapes, names and wiring.

Light modules (``names``, ``topology``, ``settings``, ``dynamodb``) are plain Python so the
Cognito trigger can import them without pydantic on its cold path. The pydantic models live in
``events`` and ``items``. Nothing here imports any other part of userpipe.
"""

"""Code every function's bundle ships and runs; not a function itself (it has no handler).

``partial_batch``: Lambda's partial batch response, for the queue and stream consumers.
``conditional_put``: DynamoDB's create-if-absent write. The I/O lives here, where handlers
import it; ``contracts/`` keeps the shapes. Imports ``contracts/``, the standard library and
boto3 only (``tests/unit/test_layers.py``).
"""

"""Operator commands (replay, rebuild, reconcile, redrive, status) against one ``Deployment``:
a stack in AWS or the local stack, seen the same way."""

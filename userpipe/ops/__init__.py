"""Operator commands that act on a deployment (replay, rebuild, reconcile, redrive) against one
``Deployment``: a stack in AWS or the local stack, seen the same way. What they read (queues,
tables, Cognito's users, status) comes from ``userpipe/aws``; they import nothing from
``userpipe/local`` or ``services/``."""

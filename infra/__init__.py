"""The CDK app: one stack, one construct per concern. Imports ``contracts`` only; refers to the
functions' code by path (it never imports service code)."""

"""One construct per concern: functions, identity, events, subscription, projection, audit,
alarms. Shared resources are passed in as constructor arguments."""

"""One construct per concern: functions (and their grants), identity, events, tables,
subscriptions, streams, schedules, the API and alarms; queues and cdk-nag acknowledgements are
made one way for all of them. Shared resources are passed in as constructor arguments."""

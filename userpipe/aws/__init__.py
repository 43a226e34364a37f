"""Reading a running stack through AWS APIs — the layer under both ``userpipe/local`` and
``userpipe/ops``, and what the bench and the tests read with too: clients with timeouts
(``clients``), a deployment's outputs and clients (``deployment``), queue depths and the one
wait for queues to drain (``queues``), table scans (``tables``), Cognito's confirmed users
(``users``), stream records as Lambda delivers them (``streams``), dead letters and the
``status`` reading (the local console shows it too), and the shell lines to print
(``shell``). It imports neither ``local``, ``ops`` nor the command line."""

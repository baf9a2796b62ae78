"""``sluicegate drill``: the zero-loss experiment, automated.

Start the system (or point at one), load events over HTTP, stop things on a seeded schedule, and
compare *sets of event ids*: what the API acknowledged against what is queued, in flight,
dead-lettered and persisted. One job per module: ``ledger`` (what the client was told), ``loader``
(HTTP load), ``schedule`` (which fault when), ``system``/``procs`` (the processes), ``faults`` (one
function per fault kind), ``observe``/``database`` (where the ids are), ``checker`` (pure verdicts),
``report`` (table and JSON), ``runner`` (the whole run) and ``command`` (the CLI entry).
"""

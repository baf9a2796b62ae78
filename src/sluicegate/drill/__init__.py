"""``sluicegate drill``: the zero-loss experiment, automated.

Start the system (or point at one), load events over HTTP, stop things on a seeded schedule, and
compare *sets of event ids*: what the API acknowledged against what is queued, in flight,
dead-lettered and persisted. One job per module: ``ledger`` (what the client was told), ``loader``
(HTTP load), ``schedule`` (which fault when), ``system`` (the protocol the runner talks to),
``local`` (the system the drill starts, and its faults), ``deployment`` (a system it was given),
``service``/``procs`` (processes), ``faults`` (what every fault shares), ``observe``/``database``
(where the ids are: the drill audits Redis and the database directly, not through the layers it
checks), ``checker`` (pure verdicts), ``report`` (table and JSON), ``runner`` (the whole run) and
``command`` (the CLI entry).
"""

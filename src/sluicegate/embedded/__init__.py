"""Redis-compatible servers sluicegate runs itself: ``server`` (one private Valkey with its AOF, for
``sluicegate up``, the drill, the tests and the benches) and ``cluster`` (a local Valkey cluster
made of such servers, for ``drill --cluster``, the tests and the benches)."""

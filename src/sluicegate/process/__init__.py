"""Tools for any process of sluicegate: signal handling (an inbox the state machine reads) and
liveness (is a named process certainly gone?). The API, the agent, its consumers, ``sluicegate up``
and the queue layer use them; they import nothing else of sluicegate."""

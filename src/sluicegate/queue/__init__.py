"""Everything that speaks Redis about queues: key names, clients, the writer (API side), the
reader (consumer side), snapshots, dead letters, and the Lua scripts they run."""

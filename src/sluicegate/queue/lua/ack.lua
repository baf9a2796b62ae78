#!lua flags=allow-oom
-- Acknowledge and delete persisted entries, and count them, in one step (the consumer's ack).
-- Deleting keeps the stream's memory bounded; the counts feed `sluicegate status`.
-- allow-oom: it frees memory (a full Redis drains through it); its counters are fields of a
-- hash that exists already.
--
-- KEYS[1]  the queue's stream            sluicegate:{queue}:events
-- KEYS[2]  the queue's stats hash        sluicegate:{queue}:stats
-- ARGV[1]  consumer group name
-- ARGV[2]  rows the batch inserted (new events)
-- ARGV[3]  redeliveries the database absorbed (already stored)
-- ARGV[4…] stream entry ids to acknowledge
-- writes stats fields: persisted duplicates_suppressed
-- returns  1
-- XACK and XDEL go in chunks: Lua's unpack() has a stack limit of a few thousand values.
for first = 4, #ARGV, 1000 do
  local last = math.min(first + 999, #ARGV)
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, first, last))
  redis.call('XDEL', KEYS[1], unpack(ARGV, first, last))
end
redis.call('HINCRBY', KEYS[2], 'persisted', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'duplicates_suppressed', ARGV[3])
return 1

#!lua flags=allow-oom
-- Acknowledge persisted entries for one destination, count them, and delete what no destination
-- needs any more, in one step (the consumer's ack). The counts feed `sluicegate status`.
-- With one consumer group on the stream (one destination) the acknowledged entries are deleted
-- at once; with several, the stream is trimmed below the oldest entry a group still needs.
-- allow-oom: it frees memory (a full Redis drains through it); its counters are fields of a
-- hash that exists already.
--
-- KEYS[1]  the queue's stream            sluicegate:{queue}:events
-- KEYS[2]  the queue's stats hash        sluicegate:{queue}:stats
-- ARGV[1]  the destination's consumer group
-- ARGV[2]  rows the batch inserted (new events)
-- ARGV[3]  redeliveries the destination absorbed (already stored)
-- ARGV[4]  the suffix of the destination's stats fields ('' for the default destination)
-- ARGV[5…] stream entry ids to acknowledge
-- reads group fields: name pending
-- writes stats fields: persisted duplicates_suppressed
-- returns  1
--!include trim
-- XACK and XDEL go in chunks: Lua's unpack() has a stack limit of a few thousand values.
for first = 5, #ARGV, 1000 do
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, first, math.min(first + 999, #ARGV)))
end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 1 then
  for first = 5, #ARGV, 1000 do
    redis.call('XDEL', KEYS[1], unpack(ARGV, first, math.min(first + 999, #ARGV)))
  end
else
  trim_to_slowest(KEYS[1], groups)
end
redis.call('HINCRBY', KEYS[2], 'persisted' .. ARGV[4], ARGV[2])
redis.call('HINCRBY', KEYS[2], 'duplicates_suppressed' .. ARGV[4], ARGV[3])
return 1

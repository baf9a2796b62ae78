-- Append a batch of events to a queue's stream, all or nothing (the API's 202 path).
-- Creates the stream and its consumer group on first use and registers the queue, and refuses
-- the whole batch when the stream is already at its depth limit. Counts the appended events in
-- the stats hash in the same step, so `accepted` is exact and as durable as the events themselves.
-- Events quarantined by their queue's schema contract go straight to the dead letters, with their
-- reason, in the same step: accepted = persisted + queued + in flight + dead at every instant.
--
-- KEYS[1]  the queue's stream            sluicegate:{queue}:events
-- KEYS[2]  the queue's stats hash        sluicegate:{queue}:stats
-- KEYS[3]  the queue's dead letters      sluicegate:{queue}:dead
-- KEYS[4]  the set of known queues       sluicegate:queues (standalone only: on a cluster it
--          lives in another slot; there the stream itself marks the queue, found by SCAN)
-- ARGV[1]  depth limit (QUEUE_MAX_DEPTH)
-- ARGV[2]  consumer group name
-- ARGV[3]  queue name (member of KEYS[4])
-- ARGV[4]  the request's W3C traceparent, '' when it sent none (then the field is left out)
-- ARGV[5]  how many of the events are quarantined (they come last)
-- ARGV[6…] one triple per event: event id, payload, accepted-at (ms); then one quadruple per
--          quarantined event: event id, payload, accepted-at (ms), reason
-- writes entry fields: id payload accepted_at_ms traceparent reason deliveries dead_at_ms
-- writes stats fields: accepted dead_lettered
-- returns  {1, depth after} when appended, {0, depth} when refused for depth
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[2], '0', 'MKSTREAM')
  if #KEYS > 3 then redis.call('SADD', KEYS[4], ARGV[3]) end
end
local depth = redis.call('XLEN', KEYS[1])
if depth >= tonumber(ARGV[1]) then
  return {0, depth}
end
local quarantined = tonumber(ARGV[5])
local last = #ARGV - 4 * quarantined
local trace = {}
if ARGV[4] ~= '' then trace = {'traceparent', ARGV[4]} end
for i = 6, last, 3 do
  redis.call('XADD', KEYS[1], '*', 'id', ARGV[i], 'payload', ARGV[i + 1],
             'accepted_at_ms', ARGV[i + 2], unpack(trace))
end
for i = last + 1, #ARGV, 4 do
  redis.call('XADD', KEYS[3], '*', 'id', ARGV[i], 'payload', ARGV[i + 1],
             'accepted_at_ms', ARGV[i + 2], 'reason', ARGV[i + 3], 'deliveries', 0,
             'dead_at_ms', ARGV[i + 2], unpack(trace))
end
local queued = (last - 5) / 3
redis.call('HINCRBY', KEYS[2], 'accepted', queued + quarantined)
if quarantined > 0 then redis.call('HINCRBY', KEYS[2], 'dead_lettered', quarantined) end
return {1, depth + queued}

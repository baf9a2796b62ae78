-- Append a batch of events to a queue's stream, all or nothing (the API's 202 path).
-- Creates the stream and its consumer group on first use and registers the queue, and refuses
-- the whole batch when the stream is already at its depth limit. Counts the appended events in
-- the stats hash in the same step, so `accepted` is exact and as durable as the events themselves.
--
-- KEYS[1]  the queue's stream            sluicegate:{queue}:events
-- KEYS[2]  the queue's stats hash        sluicegate:{queue}:stats
-- KEYS[3]  the set of known queues       sluicegate:queues (standalone only: on a cluster it
--          lives in another slot; there the stream itself marks the queue, found by SCAN)
-- ARGV[1]  depth limit (QUEUE_MAX_DEPTH)
-- ARGV[2]  consumer group name
-- ARGV[3]  queue name (member of KEYS[3])
-- ARGV[4]  the request's W3C traceparent, '' when it sent none (then the field is left out)
-- ARGV[5…] one triple per event: event id, payload, accepted-at (ms)
-- writes entry fields: id payload accepted_at_ms traceparent
-- writes stats fields: accepted
-- returns  {1, depth after} when appended, {0, depth} when refused for depth
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[2], '0', 'MKSTREAM')
  if #KEYS > 2 then redis.call('SADD', KEYS[3], ARGV[3]) end
end
local depth = redis.call('XLEN', KEYS[1])
if depth >= tonumber(ARGV[1]) then
  return {0, depth}
end
for i = 5, #ARGV, 3 do
  if ARGV[4] == '' then
    redis.call('XADD', KEYS[1], '*', 'id', ARGV[i], 'payload', ARGV[i + 1],
               'accepted_at_ms', ARGV[i + 2])
  else
    redis.call('XADD', KEYS[1], '*', 'id', ARGV[i], 'payload', ARGV[i + 1],
               'accepted_at_ms', ARGV[i + 2], 'traceparent', ARGV[4])
  end
end
local count = (#ARGV - 4) / 3
redis.call('HINCRBY', KEYS[2], 'accepted', count)
return {1, depth + count}

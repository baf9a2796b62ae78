-- Append a batch of events to a queue's stream, all or nothing (the API's 202 path).
-- Creates the stream and its consumer group on first use and registers the queue, and refuses
-- the whole batch when the stream is already at its depth limit. Counts the appended events in
-- the stats hash in the same step, so `accepted` is exact and as durable as the events themselves.
-- Events quarantined by their queue's schema contract go straight to the dead letters, with their
-- reason, in the same step: accepted = persisted + queued + in flight + dead at every instant.
-- They are listed with the default destination's dead letters and counted for the queue
-- (`quarantined`): a queue's other destinations count them as dead too.
--
-- KEYS[1]  the queue's stream            sluicegate:{queue}:events
-- KEYS[2]  the queue's stats hash        sluicegate:{queue}:stats
-- KEYS[3]  the queue's dead letters      sluicegate:{queue}:dead
-- KEYS[4]  the queue's done counts      sluicegate:{queue}:done (lua/lib/counts.lua)
-- KEYS[5]  the set of known queues       sluicegate:queues (standalone only: on a cluster it
--          lives in another slot; there the stream itself marks the queue, found by SCAN)
-- ARGV[1]  depth limit (QUEUE_MAX_DEPTH): events the slowest destination has still to store
-- ARGV[2]  consumer group name
-- ARGV[3]  queue name (member of KEYS[4])
-- ARGV[4]  the request's W3C traceparent, '' when it sent none (then the field is left out)
-- ARGV[5]  how many of the events are quarantined (they come last)
-- ARGV[6]  how many events come packed in one entry (queue/entry_format.py); 0: one entry each
-- ARGV[7]  packed: the events' ids, joined by U+001E
-- ARGV[8]  packed: their payloads, joined by U+001E
-- ARGV[9]  packed: when they were accepted (ms)
-- ARGV[7…]  not packed: one triple per event: event id, payload, accepted-at (ms); then, packed
--          or not, one quadruple per quarantined event: event id, payload, accepted-at (ms),
--          reason
-- writes entry fields: id payload accepted_at_ms traceparent reason deliveries dead_at_ms
-- writes entry fields: n ids payloads
-- writes stats fields: accepted dead_lettered quarantined packed_extra
-- returns  {1, depth after} when appended, {0, depth} when refused for depth
--!include counts
local call = redis.call
local stream = KEYS[1]
local depth = 0
local done = call('HVALS', KEYS[4])
local appended = stream_counts(KEYS[2])
if #done == 0 then  -- a new queue, one whose groups are all gone, or one from before counts
  if call('EXISTS', stream) == 0 then
    call('XGROUP', 'CREATE', stream, ARGV[2], '0', 'MKSTREAM')
    call('HSET', KEYS[4], ARGV[2], appended)
    if #KEYS > 4 then call('SADD', KEYS[5], ARGV[3]) end
  else
    counted(stream, KEYS[2], KEYS[4])
    done = call('HVALS', KEYS[4])
    if #done == 0 then depth = call('XLEN', stream) end  -- no group: nobody reads it yet
  end
end
for i = 1, #done do depth = math.max(depth, appended - tonumber(done[i])) end
if depth >= tonumber(ARGV[1]) then
  return {0, depth}
end
local quarantined = tonumber(ARGV[5])
local packed = tonumber(ARGV[6])
local last = #ARGV - 4 * quarantined
local trace = ARGV[4]
local queued = packed
if packed > 0 then
  local fields = {'n', packed, 'ids', ARGV[7], 'payloads', ARGV[8], 'accepted_at_ms', ARGV[9]}
  if trace ~= '' then fields[9], fields[10] = 'traceparent', trace end
  call('XADD', stream, '*', unpack(fields))
else
  queued = (last - 6) / 3
  -- One loop per case rather than unpack() of the optional field on every XADD.
  if trace == '' then
    for i = 7, last, 3 do
      call('XADD', stream, '*', 'id', ARGV[i], 'payload', ARGV[i + 1], 'accepted_at_ms', ARGV[i + 2])
    end
  else
    for i = 7, last, 3 do
      call('XADD', stream, '*', 'id', ARGV[i], 'payload', ARGV[i + 1], 'accepted_at_ms', ARGV[i + 2],
           'traceparent', trace)
    end
  end
end
local extra = {}
if trace ~= '' then extra = {'traceparent', trace} end
for i = last + 1, #ARGV, 4 do
  call('XADD', KEYS[3], '*', 'id', ARGV[i], 'payload', ARGV[i + 1], 'accepted_at_ms', ARGV[i + 2],
       'reason', ARGV[i + 3], 'deliveries', 0, 'dead_at_ms', ARGV[i + 2], unpack(extra))
end
call('HINCRBY', KEYS[2], 'accepted', queued + quarantined)
if packed > 1 then call('HINCRBY', KEYS[2], 'packed_extra', packed - 1) end
if quarantined > 0 then
  call('HINCRBY', KEYS[2], 'dead_lettered', quarantined)
  call('HINCRBY', KEYS[2], 'quarantined', quarantined)
end
return {1, depth + queued}

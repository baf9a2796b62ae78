-- Move one dead letter back into its queue: it is in exactly one of the two streams, always.
--
-- KEYS[1]  the queue's stream            sluicegate:{queue}:events
-- KEYS[2]  the queue's dead letters      sluicegate:{queue}:dead
-- ARGV[1]  the dead letter's entry id
-- reads entry fields:  id payload accepted_at_ms traceparent
-- writes entry fields: id payload accepted_at_ms traceparent
-- returns  1 when moved, 0 when there is no such dead letter
local entry = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
if #entry == 0 then return 0 end
local fields = entry[1][2]
local event = {}
for i = 1, #fields, 2 do event[fields[i]] = fields[i + 1] end
if event['traceparent'] then
  redis.call('XADD', KEYS[1], '*', 'id', event['id'], 'payload', event['payload'],
             'accepted_at_ms', event['accepted_at_ms'], 'traceparent', event['traceparent'])
else
  redis.call('XADD', KEYS[1], '*', 'id', event['id'], 'payload', event['payload'],
             'accepted_at_ms', event['accepted_at_ms'])
end
redis.call('XDEL', KEYS[2], ARGV[1])
return 1

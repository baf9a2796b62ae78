-- Move one dead letter back into its queue: it is in exactly one of the two streams, always.
-- Every destination of the queue gets the entry again. A dead letter of one destination (it
-- was delivered: deliveries > 0) is already stored by the others, which will absorb it as a
-- redelivery: that is counted now, as one redelivery absorbed fewer for each of them, so each
-- destination's line accepted = persisted + queued + in flight + dead holds at every instant.
-- A quarantined event (deliveries 0: refused by the schema at ingest) no destination has: it
-- leaves the queue's count of quarantined events, which every destination counts as dead.
--
-- KEYS[1]  the queue's stream            sluicegate:{queue}:events
-- KEYS[2]  the destination's dead letters sluicegate:{queue}:dead[:destination]
-- KEYS[3]  the queue's stats hash        sluicegate:{queue}:stats
-- KEYS[4]  the queue's done counts      sluicegate:{queue}:done (lua/lib/counts.lua)
-- ARGV[1]  the dead letter's entry id
-- ARGV[2]  the destination's consumer group
-- reads entry fields:  id payload accepted_at_ms traceparent deliveries
-- writes entry fields: id payload accepted_at_ms traceparent
-- reads group fields: name
-- writes stats fields: duplicates_suppressed quarantined reappended
-- reads group fields: pending lag
-- reads entry fields: n
-- returns  1 when moved, 0 when there is no such dead letter
--!include counts
local entry = redis.call('XRANGE', KEYS[2], ARGV[1], ARGV[1])
if #entry == 0 then return 0 end
counted(KEYS[1], KEYS[3], KEYS[4])
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
if tonumber(event['deliveries']) == 0 then
  redis.call('HINCRBY', KEYS[3], 'quarantined', -1)
  return 1
end
redis.call('HINCRBY', KEYS[3], 'reappended', 1)
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = group_info(group)
  if info['name'] ~= ARGV[2] then
    local suffix = string.match(info['name'], '(:.*)$') or ''
    redis.call('HINCRBY', KEYS[3], 'duplicates_suppressed' .. suffix, -1)
  end
end
return 1

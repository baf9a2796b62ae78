#!lua flags=allow-oom
-- Move the refused events of one entry from a destination's view of the stream to its dead
-- letters, each with its reason, and acknowledge the entry, in one step (a consumer gives up on
-- poison events after DEAD_LETTER_AFTER deliveries). The entry's other events were stored just
-- before (worker/poison.py): their counts come along. An entry no longer pending with the group
-- was handled already (a reply lost, the call sent again): nothing is written twice.
-- With one consumer group on the stream the entry leaves the stream at once; with several, once
-- every group has acknowledged it (the trimming rule, as in `ack.lua`: lua/lib/trim.lua).
-- allow-oom: the entry leaves the stream as its events enter the dead letters (the reasons, at
-- most 2,000 characters each, are what they add), so poison cannot hold a full queue back.
--
-- KEYS[1]  the queue's stream            sluicegate:{queue}:events
-- KEYS[2]  the destination's dead letters sluicegate:{queue}:dead[:destination]
-- KEYS[3]  the queue's stats hash        sluicegate:{queue}:stats
-- KEYS[4]  the queue's done counts      sluicegate:{queue}:done (lua/lib/counts.lua)
-- ARGV[1]  the destination's consumer group
-- ARGV[2]  the entry's id in the stream
-- ARGV[3]  the suffix of the destination's stats fields ('' for the default destination)
-- ARGV[4]  of its other events: rows stored now (new events)
-- ARGV[5]  of its other events: already stored (redeliveries absorbed)
-- ARGV[6]  how many times the entry was delivered
-- ARGV[7]  when the events were given up on (ms)
-- ARGV[8]  when the events were accepted (ms)
-- ARGV[9]  the request's W3C traceparent, '' when it sent none (then the field is left out)
-- ARGV[10…] one triple per refused event: event id, payload, reason
-- reads group fields: name pending
-- writes entry fields: id payload accepted_at_ms traceparent reason deliveries dead_at_ms
-- writes stats fields: dead_lettered persisted duplicates_suppressed entries_deleted
-- returns  1 when moved, 0 when the entry was handled before
--!include counts
--!include trim
counted(KEYS[1], KEYS[3], KEYS[4])
if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1) == 0 then return 0 end
local refused = 0
for i = 10, #ARGV, 3 do
  local fields = {'id', ARGV[i], 'payload', ARGV[i + 1], 'accepted_at_ms', ARGV[8]}
  if ARGV[9] ~= '' then
    fields[7], fields[8] = 'traceparent', ARGV[9]
  end
  local n = #fields
  fields[n + 1], fields[n + 2] = 'reason', ARGV[i + 2]
  fields[n + 3], fields[n + 4] = 'deliveries', ARGV[6]
  fields[n + 5], fields[n + 6] = 'dead_at_ms', ARGV[7]
  redis.call('XADD', KEYS[2], '*', unpack(fields))
  refused = refused + 1
end
acknowledge(KEYS[1], KEYS[3], KEYS[4], ARGV[1], {ARGV[2]}, 1, 1)
redis.call('HINCRBY', KEYS[3], 'dead_lettered' .. ARGV[3], refused)
redis.call('HINCRBY', KEYS[3], 'persisted' .. ARGV[3], ARGV[4])
redis.call('HINCRBY', KEYS[3], 'duplicates_suppressed' .. ARGV[3], ARGV[5])
return 1

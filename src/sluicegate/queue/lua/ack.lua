#!lua flags=allow-oom
-- Acknowledge persisted entries for one destination, count them, and delete what no destination
-- needs any more, in one step (the consumer's ack). The counts feed `sluicegate status`: only
-- the events of entries this ack acknowledged count (an ack sent again after a lost reply, or
-- of entries another consumer took over and acknowledged first, counts none of those), rows
-- inserted first, so each event is counted once: accepted = persisted + queued + in flight + dead.
-- The stream is trimmed below the oldest entry a group still needs; with one consumer group (one
-- destination) the acknowledged entries all leave at once (lua/lib/trim.lua).
-- allow-oom: it frees memory (a full Redis drains through it); its counters are fields of a
-- hash that exists already.
--
-- KEYS[1]  the queue's stream            sluicegate:{queue}:events
-- KEYS[2]  the queue's stats hash        sluicegate:{queue}:stats
-- KEYS[3]  the queue's done counts      sluicegate:{queue}:done (lua/lib/counts.lua)
-- ARGV[1]  the destination's consumer group
-- ARGV[2]  rows the batch inserted (new events)
-- ARGV[3]  redeliveries the destination absorbed (already stored)
-- ARGV[4]  the suffix of the destination's stats fields ('' for the default destination)
-- ARGV[5]  how many of the entries are packed (several events each; entry_format.py)
-- ARGV[6…] the ids of the packed entries, then those of the single-event entries
-- reads group fields: name pending
-- writes stats fields: persisted duplicates_suppressed entries_deleted
-- returns  1
--!include counts
--!include trim
counted(KEYS[1], KEYS[2], KEYS[3])
local events = acknowledge(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV, 6, tonumber(ARGV[5]))
local persisted = math.min(tonumber(ARGV[2]), events)
redis.call('HINCRBY', KEYS[2], 'persisted' .. ARGV[4], persisted)
redis.call('HINCRBY', KEYS[2], 'duplicates_suppressed' .. ARGV[4], events - persisted)
return 1

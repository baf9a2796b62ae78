#!lua flags=allow-oom
-- Move one refused entry from a destination's view of the stream to its dead letters, with the
-- reason, in one step (a consumer gives up on a poison event after DEAD_LETTER_AFTER deliveries).
-- With one consumer group on the stream it leaves the stream at once; with several, once every
-- group has acknowledged it (the trimming rule, as in `ack.lua`: lua/lib/trim.lua).
-- allow-oom: the entry leaves the stream as it enters the dead letters (the reason, at most
-- 2,000 characters, is what it adds), so a poison event cannot hold a full queue back.
--
-- KEYS[1]  the queue's stream            sluicegate:{queue}:events
-- KEYS[2]  the destination's dead letters sluicegate:{queue}:dead[:destination]
-- KEYS[3]  the queue's stats hash        sluicegate:{queue}:stats
-- ARGV[1]  the destination's consumer group
-- ARGV[2]  the entry's id in the stream
-- ARGV[3]  the suffix of the destination's stats fields ('' for the default destination)
-- ARGV[4…] the dead letter's fields and values, in pairs
-- reads group fields: name pending
-- writes entry fields: id payload accepted_at_ms traceparent reason deliveries dead_at_ms
-- writes stats fields: dead_lettered
-- returns  1
--!include trim
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 4))
acknowledge(KEYS[1], ARGV[1], {ARGV[2]}, 1)
redis.call('HINCRBY', KEYS[3], 'dead_lettered' .. ARGV[3], 1)
return 1

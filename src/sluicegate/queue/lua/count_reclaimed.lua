#!lua flags=allow-oom
-- Count the entries a consumer took over from others (`sluicegate status`'s reclaimed).
-- allow-oom: one counter in the queue's stats hash, and a full Redis is drained by consumers
-- that take over each other's entries.
--
-- KEYS[1]  the queue's stats hash        sluicegate:{queue}:stats
-- ARGV[1]  entries taken over
-- ARGV[2]  the suffix of the destination's stats fields ('' for the default destination)
-- writes stats fields: reclaimed
-- returns  the new count
return redis.call('HINCRBY', KEYS[1], 'reclaimed' .. ARGV[2], ARGV[1])

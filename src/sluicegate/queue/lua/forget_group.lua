#!lua flags=allow-oom
-- Forget a destination removed from DESTINATIONS_FILE on one queue (`sluicegate destinations
-- forget`): destroy its consumer group, then trim the stream below what the remaining groups
-- still need (the trimming rule, as in `ack.lua`): everything the forgotten group alone held
-- back goes at once. With no group left, nothing is trimmed (the entries wait for a destination).
-- allow-oom: it only frees memory, and a Redis filled by a forgotten group is where it is needed.
--
-- KEYS[1]  the queue's stream            sluicegate:{queue}:events
-- KEYS[2]  the queue's stats hash        sluicegate:{queue}:stats
-- KEYS[3]  the queue's done counts      sluicegate:{queue}:done (lua/lib/counts.lua)
-- writes stats fields: entries_deleted
-- ARGV[1]  the forgotten destination's consumer group
-- reads group fields: name pending
-- returns  {1 if the group was there and is gone (else 0), entries trimmed}
--!include counts
--!include trim
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
if redis.call('XGROUP', 'DESTROY', KEYS[1], ARGV[1]) == 0 then return {0, 0} end
redis.call('HDEL', KEYS[3], ARGV[1])
return {1, trim_to_slowest(KEYS[1], KEYS[2], redis.call('XINFO', 'GROUPS', KEYS[1]))}

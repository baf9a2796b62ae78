#!lua flags=allow-oom
-- Extend a consumer's lock, only if it is still ours (compare the whole value first).
-- allow-oom: it writes nothing new (a TTL), and a consumer draining a full Redis must keep
-- its lock.
--
-- KEYS[1]  the lock                      sluicegate:{queue}:worker:<slot>
-- ARGV[1]  the lock's value as we wrote it (JSON: token, host, pid, queue, started-at)
-- ARGV[2]  new time to live (ms)
-- returns  1 when extended, 0 when the lock expired or belongs to another consumer
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0

#!lua flags=allow-oom
-- Delete a consumer's lock, only if it is still ours (compare-and-delete).
-- allow-oom: it frees memory.
--
-- KEYS[1]  the lock                      sluicegate:{queue}:worker:<slot>
-- ARGV[1]  the lock's value as we wrote it
-- returns  1 when deleted, 0 when it had expired or belongs to another consumer
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0

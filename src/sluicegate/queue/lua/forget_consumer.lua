#!lua flags=allow-oom
-- Delete a group consumer only if it holds nothing, atomically: between a separate check and the
-- delete, the consumer may read a batch, and deleting it would strand that batch's entries.
-- allow-oom: it frees memory.
--
-- KEYS[1]  the queue's stream               sluicegate:{queue}:events
-- ARGV[1]  the consumer group
-- ARGV[2]  the consumer's name
-- returns  pending entries deleted with it (always 0), or -1 when it holds some (kept)
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) == 0 then
  return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
end
return -1

-- Take the first free lock slot of a queue (QUEUE_CONSUMERS slots, all in the queue's hash slot).
--
-- KEYS[1..n]  the queue's lock slots       sluicegate:{queue}:worker:0 … :n-1
-- ARGV[1]     time to live (ms)
-- ARGV[2..n+1] the value to write into each slot (the same entry, with that slot's number)
-- returns     the slot taken (0-based), or -1 when every slot is held
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[i + 1], 'NX', 'PX', ARGV[1]) then
    return i - 1
  end
end
return -1

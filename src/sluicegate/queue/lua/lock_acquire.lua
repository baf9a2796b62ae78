#!lua flags=allow-oom
-- Take the first free lock slot of a queue (QUEUE_CONSUMERS slots, all in the queue's hash slot),
-- unless the queue has nothing to do: a consumer's list of queues with work may be older than
-- the queue's last ack, and a visit of an empty queue would cost a lock, a read and a release.
-- allow-oom: a full Redis must be drained, and draining starts with a lock (one small key per
-- held slot, deleted on release); without it a full server wedged: every consumer's SET was refused.
--
-- KEYS[1]     the queue's stream              sluicegate:{queue}:events
-- KEYS[2..n+1] the queue's lock slots         sluicegate:{queue}:worker:0 … :n-1
-- ARGV[1]     time to live (ms)
-- ARGV[2..n+1] the value to write into each slot (the same entry, with that slot's number)
-- returns     the slot taken (0-based); -2 when the stream is empty (nothing queued or pending);
--             {-1, value of each slot} when every slot is held (the caller checks the holders)
if redis.call('XLEN', KEYS[1]) == 0 then
  return -2
end
local held = {-1}
for i = 2, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[i], 'NX', 'PX', ARGV[1]) then
    return i - 2
  end
  held[i] = redis.call('GET', KEYS[i])
end
return held

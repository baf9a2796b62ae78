#!lua flags=no-writes,allow-oom
-- Where a queue's stream stands for each of its consumer groups (one a destination), in one
-- step: which destinations of the queue have work (agent, consumers), and their lag (status).
-- no-writes: it only reads; allow-oom: it runs on a full Redis, whose consumers must drain it.
--
-- KEYS[1]  the queue's stream            sluicegate:{queue}:events
-- reads group fields: name pending lag
-- returns  {entries in the stream, the server's time (ms), then for each group four values:
--          its name, entries pending (delivered, not acknowledged), its lag (entries never
--          delivered to it; -1 when the server cannot tell), the id of the oldest entry it has
--          not acknowledged ('' when none)}
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
local time = redis.call('TIME')
local reply = {redis.call('XLEN', KEYS[1]), tonumber(time[1]) * 1000 + math.floor(time[2] / 1000)}
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
for _, group in ipairs(groups) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  local lag = info['lag']
  if not lag then
    lag = -1
    if #groups == 1 then lag = reply[1] - info['pending'] end
  end
  local oldest = ''
  if info['pending'] > 0 then
    oldest = redis.call('XPENDING', KEYS[1], info['name'])[2]
  elseif lag ~= 0 then
    local after = redis.call('XRANGE', KEYS[1], '(' .. info['last-delivered-id'], '+', 'COUNT', 1)
    if #after > 0 then oldest = after[1][1] end
  end
  table.insert(reply, info['name'])
  table.insert(reply, info['pending'])
  table.insert(reply, lag)
  table.insert(reply, oldest)
end
return reply

#!lua flags=no-writes,allow-oom
-- Where a queue's stream stands for each of its consumer groups (one a destination), in one
-- step: which destinations of the queue have work (agent, consumers), and their lag and counts
-- in events (status). no-writes: it only reads; allow-oom: it runs on a full Redis, whose
-- consumers must drain it.
--
-- KEYS[1]  the queue's stream            sluicegate:{queue}:events
-- KEYS[2]  the queue's stats hash        sluicegate:{queue}:stats
-- KEYS[3]  the queue's done counts      sluicegate:{queue}:done (lua/lib/counts.lua)
-- ARGV[1]  '1': count the events of the pending entries too (reads each of them), else '0'
-- reads group fields: name pending lag
-- reads entry fields: n
-- returns  {entries in the stream, the server's time (ms), then for each group six values:
--          its name, entries pending (delivered, not acknowledged), its lag (entries never
--          delivered to it; -1 when the server cannot tell), the id of the oldest entry it has
--          not acknowledged ('' when none), its events still to store (queued or pending; -1
--          when not counted yet: a stream written by a version before counts), the events of
--          its pending entries (-1 unless asked for). Asked for, on a stream that holds other
--          entries than the scripts left in it (some were lost, or it was written before the
--          counts were kept), the events still to store are counted entry by entry: what the
--          stream holds, so that a loss shows}
--!include counts
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0} end
local time = redis.call('TIME')
local reply = {redis.call('XLEN', KEYS[1]), tonumber(time[1]) * 1000 + math.floor(time[2] / 1000)}
local kept = redis.call('EXISTS', KEYS[3]) == 1  -- counts kept (lib/counts.lua)
local appended, entries = stream_counts(KEYS[2])
local observe = ARGV[1] == '1' and not (kept and entries == reply[1])
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
for _, group in ipairs(groups) do
  local info = group_info(group)
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
  local events = -1
  local done = redis.call('HGET', KEYS[3], info['name'])
  if done then events = appended - tonumber(done) end
  local pending_events = -1
  if ARGV[1] == '1' then
    pending_events = 0
    local rows = redis.call('XPENDING', KEYS[1], info['name'], '-', '+', info['pending'])
    for _, row in ipairs(rows) do
      local entry = redis.call('XRANGE', KEYS[1], row[1], row[1])
      if #entry > 0 then pending_events = pending_events + entry_events(entry[1][2]) end
    end
  end
  if observe then
    events = events_in_stream(KEYS[1], '(' .. info['last-delivered-id']) + pending_events
  end
  for _, value in ipairs({info['name'], info['pending'], lag, oldest, events, pending_events}) do
    table.insert(reply, value)
  end
end
return reply

-- A queue's counts in events, exact while entries hold one event or a whole request's
-- (queue/entry_format.py) and while several groups trim the stream. The events ever written to
-- the stream ('appended') are the events accepted, less those quarantined at ingest (they went to
-- the dead letters), plus the dead letters replayed back ('reappended'): an enqueue of single
-- events writes no counter but 'accepted', as before counts. The queue's done hash holds, per
-- consumer group (one per destination), the events it is done with: acknowledged,
-- dead-lettered, or never its own (written before the group was made at '$'). So a group's
-- events still to store (queued or in flight) are appended - done[group], whatever the stream
-- holds for the other groups. The entries these scripts wrote and have not deleted are appended
-- less the events packed beyond the first of their entries ('packed_extra') less the entries
-- the scripts deleted ('entries_deleted'): a stream holding fewer lost some (`sluicegate
-- status` then counts what it holds, entry by entry, and the conservation line shows the loss).
-- reads group fields: name pending lag
-- reads entry fields: n
-- reads stats fields: accepted quarantined reappended packed_extra entries_deleted
-- writes stats fields: entries_deleted

-- The events ever written to the stream, and the entries the scripts left in it.
local function stream_counts(stats)
  local counts = redis.call('HMGET', stats, 'accepted', 'quarantined', 'reappended',
                            'packed_extra', 'entries_deleted')
  for i = 1, 5 do counts[i] = tonumber(counts[i]) or 0 end
  local appended = counts[1] - counts[2] + counts[3]
  return appended, appended - counts[4] - counts[5]
end

-- Events one entry holds (its fields, flat): a packed entry's first field is its count.
local function entry_events(fields)
  if fields[1] == 'n' then return tonumber(fields[2]) end
  return 1
end

-- Events the stream holds from `start` ('-': all; '(' .. id: after id), read entry by entry:
-- only where a group is made at '0' on a stream that others have read already (a destination
-- added to a queue in use), and where the stream lost entries (status counts what is left).
local function events_in_stream(stream, start)
  local total = 0
  while true do
    local rows = redis.call('XRANGE', stream, start, '+', 'COUNT', 1000)
    for _, row in ipairs(rows) do total = total + entry_events(row[2]) end
    if #rows < 1000 then return total end
    start = '(' .. rows[#rows][1]
  end
end

local function group_info(group)
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  return info
end

-- The done counts of a stream written by a version that kept none (one event an entry): made
-- from the stream as it stands, a group's work being its pending entries and its lag; the
-- entries deleted so far are what makes the entries left add up. Returns 'appended'.
local function counted(stream, stats, done)
  local appended, entries = stream_counts(stats)
  if redis.call('EXISTS', done) == 1 then return appended end
  local length = redis.call('XLEN', stream)
  if length == 0 then return appended end
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local info = group_info(group)
    local lag = info['lag'] or (length - info['pending'])
    redis.call('HSET', done, info['name'], appended - info['pending'] - lag)
  end
  redis.call('HINCRBY', stats, 'entries_deleted', entries - length)
  return appended
end

-- A group made now, from `start` ('0': every entry the stream holds; '$': none of them).
-- `untouched`: a group nobody read with yet, whose work is the whole stream.
local function count_new_group(stream, stats, done, group, start, untouched)
  local appended = counted(stream, stats, done)
  local held = 0
  if start == '0' then
    local known = untouched and redis.call('HGET', done, untouched)
    if known then held = appended - tonumber(known) else held = events_in_stream(stream, '-') end
  end
  redis.call('HSET', done, group, appended - held)
end

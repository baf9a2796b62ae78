-- The trimming rule, shared by the scripts that acknowledge (docs/destinations.md): an entry
-- is deleted only once every consumer group of the stream (one per destination) has
-- acknowledged it. Each group needs the stream from its oldest pending entry, or, with none
-- pending, from the entry after its last delivered one; the stream is trimmed (XTRIM MINID)
-- below the oldest of those. XTRIM leaves no tombstones, so each group's lag stays exact.
-- With one group that rule alone would keep, behind an entry left pending (a refused event
-- waiting for its next delivery), everything acknowledged after it: those few are deleted by
-- id (XDEL), as they always were, so a stream with one group never holds an acknowledged entry.
-- It uses lib/counts.lua's group_info and entry_events: include counts before trim.
local function stream_id(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return ms, tonumber(seq)
end

local function older(a, b)
  local a_ms, a_seq = stream_id(a)
  local b_ms, b_seq = stream_id(b)
  if #a_ms ~= #b_ms then return #a_ms < #b_ms end
  if a_ms ~= b_ms then return a_ms < b_ms end
  return a_seq < b_seq
end

local function needed_from(stream, group)
  if group['pending'] > 0 then
    return redis.call('XPENDING', stream, group['name'])[2]
  end
  local ms, seq = stream_id(group['last-delivered-id'])
  return ms .. '-' .. string.format('%.0f', seq + 1)
end

local function group_fields(groups)
  local found = {}
  for index, group in ipairs(groups) do found[index] = group_info(group) end
  return found
end

-- Entries deleted are counted (lib/counts.lua: the entries the stream should hold).
local function deleted(stats, count)
  if count > 0 then redis.call('HINCRBY', stats, 'entries_deleted', count) end
  return count
end

-- Returns how many entries it deleted.
local function trim_to_slowest(stream, stats, groups)
  local floor = nil
  for _, group in ipairs(group_fields(groups)) do
    local needed = needed_from(stream, group)
    if floor == nil or older(needed, floor) then floor = needed end
  end
  if floor then return deleted(stats, redis.call('XTRIM', stream, 'MINID', floor)) end
  return 0
end

-- XACK and XDEL go in chunks: Lua's unpack() has a stack limit of a few thousand values.
local function each_chunk(command, stream, group, ids, first)
  local done = 0
  for from = first, #ids, 1000 do
    local last = math.min(from + 999, #ids)
    if group then
      done = done + redis.call(command, stream, group, unpack(ids, from, last))
    else
      done = done + redis.call(command, stream, unpack(ids, from, last))
    end
  end
  return done
end

-- Acknowledge entries for a group and delete what no group needs any more. args[first…]: first
-- the ids of `packed` packed entries (several events each: entry_format.py; how many is read
-- from the entry, lib/counts.lua), then the ids of single-event entries. With one group, the
-- entries below its oldest pending one are all acknowledged, and before this ack the stream
-- held none: the trim takes this ack's entries by whole stream nodes (1.3 µs of the server's
-- time per id saved against XDEL) unless some were newer than an entry still pending; then they
-- go by id. The events this ack acknowledged are counted as the group's done (lib/counts.lua):
-- an entry acknowledged before (by a consumer that lost it meanwhile) counts none. Returns
-- that count.
local function acknowledge(stream, stats, done, group, args, first, packed)
  local singles = first + packed
  local entries, events = 0, 0
  for i = first, singles - 1 do
    if redis.call('XACK', stream, group, args[i]) == 1 then
      local entry = redis.call('XRANGE', stream, args[i], args[i])[1]
      entries = entries + 1
      events = events + (entry and entry_events(entry[2]) or 0)
    end
  end
  local acked = each_chunk('XACK', stream, group, args, singles)
  entries, events = entries + acked, events + acked
  if events > 0 then redis.call('HINCRBY', done, group, events) end
  local groups = redis.call('XINFO', 'GROUPS', stream)
  local trimmed = trim_to_slowest(stream, stats, groups)
  if #groups == 1 and trimmed < entries then
    local gone = each_chunk('XDEL', stream, nil, args, singles)
    for i = first, singles - 1 do gone = gone + redis.call('XDEL', stream, args[i]) end
    deleted(stats, gone)
  end
  return events
end

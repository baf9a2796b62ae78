-- The trimming rule, shared by the scripts that acknowledge (docs/destinations.md): an entry
-- is deleted only once every consumer group of the stream (one per destination) has
-- acknowledged it. Each group needs the stream from its oldest pending entry, or, with none
-- pending, from the entry after its last delivered one; the stream is trimmed (XTRIM MINID)
-- below the oldest of those. XTRIM leaves no tombstones, so each group's lag stays exact.
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
  for index, group in ipairs(groups) do
    local fields = {}
    for i = 1, #group, 2 do fields[group[i]] = group[i + 1] end
    found[index] = fields
  end
  return found
end

local function trim_to_slowest(stream, groups)
  local floor = nil
  for _, group in ipairs(group_fields(groups)) do
    local needed = needed_from(stream, group)
    if floor == nil or older(needed, floor) then floor = needed end
  end
  if floor then redis.call('XTRIM', stream, 'MINID', floor) end
end

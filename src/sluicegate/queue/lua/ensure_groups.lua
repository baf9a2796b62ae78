#!lua flags=allow-oom
-- Create the consumer groups of a queue's destinations that do not exist yet (a consumer does it
-- before it first reads the queue). A group starts where its destination says: '0', the oldest
-- entry still in Redis, or '$', after the newest; on a stream no group has read from yet (a new
-- queue) every group starts at '0', so each destination of a new queue gets its first events.
-- The enqueue makes the default destination's group with the stream; a queue that does not
-- deliver there would keep it forever, holding back the trimming: it is dropped while nobody
-- has read with it.
-- allow-oom: a full Redis is drained by consumers, and they need their groups (a few bytes).
--
-- KEYS[1]  the queue's stream            sluicegate:{queue}:events
-- KEYS[2]  the queue's stats hash        sluicegate:{queue}:stats
-- KEYS[3]  the queue's done counts      sluicegate:{queue}:done (lua/lib/counts.lua)
-- ARGV[1]  a group to drop if nobody ever read with it ('' for none)
-- ARGV[2…] pairs: a consumer group's name, its start ('0' or '$')
-- reads group fields: name consumers pending lag
-- reads entry fields: n
-- writes stats fields: entries_deleted
-- returns  how many groups it created
--!include counts
local existing = {}
local read = false
local untouched_group = nil  -- a group nobody read with: its work is the whole stream
local dropped = false
if redis.call('EXISTS', KEYS[1]) == 1 then
  for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
    local info = group_info(group)
    local untouched = info['last-delivered-id'] == '0-0' and info['pending'] == 0
    if info['name'] == ARGV[1] and untouched and info['consumers'] == 0 then
      redis.call('XGROUP', 'DESTROY', KEYS[1], ARGV[1])
      dropped, untouched_group = true, ARGV[1]
    else
      existing[info['name']] = true
      read = read or not untouched
      if untouched then untouched_group = info['name'] end
    end
  end
end
local created = 0
for i = 2, #ARGV, 2 do
  if not existing[ARGV[i]] then
    local start = ARGV[i + 1]
    if not read then start = '0' end
    redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[i], start, 'MKSTREAM')
    count_new_group(KEYS[1], KEYS[2], KEYS[3], ARGV[i], start, not read and untouched_group)
    created = created + 1
  end
end
if dropped then redis.call('HDEL', KEYS[3], ARGV[1]) end
return created

#!lua flags=allow-oom
-- One request of a token against its rate (GCRA, the generic cell rate algorithm): a request may
-- go when its theoretical arrival time (TAT) is at most burst - 1 intervals ahead of now. One
-- small key per token, with a time to live; allow-oom: when Redis is full the API answers
-- queue-store-full anyway, and the answer to a request must not depend on which check ran first.
--
-- KEYS[1]  the token's rate state         sluicegate:{token:<name>}:rate
-- ARGV[1]  the interval between requests at the rate (microseconds)
-- ARGV[2]  burst: requests that may go at once
-- returns  0 when the request may go, else the microseconds until it may
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local wait = tat - (tonumber(ARGV[2]) - 1) * interval - now
if wait > 0 then return wait end
tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return 0

"""The Lua scripts of the project's channel layer (``realtime.channel_layer``): what runs
inside Redis, in one call, so that presence, sequence numbers, delivery and the replay list
change together."""

# KEYS: the presence set. ARGV: prefix, group expiry, message expiry, seq ttl,
# capacity of process queues, capacity of other channels, events kept for replay per
# player, how long they are kept, message count, then per message: group key, user id
# ('' = no presence check), '1' to number it, the number of events it carries (n), random
# prefix, message body, and when n > 1 each event as a message of its own (random prefix
# and body, for the replay list). Returns {messages written, events dropped (in messages a
# full queue refused), events for absent players}.
PUSH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local prefix = ARGV[1]
local group_expiry = tonumber(ARGV[2])
local expiry = tonumber(ARGV[3])
local seq_ttl = tonumber(ARGV[4])
local process_capacity = tonumber(ARGV[5])
local other_capacity = tonumber(ARGV[6])
local replay_max = tonumber(ARGV[7])
local replay_ttl = tonumber(ARGV[8])
local count = tonumber(ARGV[9])
local fresh = string.format('%.6f', now - group_expiry)
local stale = string.format('%.6f', now - expiry)
local written, dropped, absent = 0, 0, 0
local cleaned = {}
local a = 10
for e = 1, count do
  local group_key, uid, numbered, n = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3])
  local rnd, body = ARGV[a + 4], ARGV[a + 5]
  local singles = a + 6
  a = a + 6
  if n > 1 then a = a + n end
  local present = true
  if uid ~= '' then
    local deadline = redis.call('ZSCORE', KEYS[1], uid)
    present = deadline ~= false and tonumber(deadline) > now
  end
  if not present then
    absent = absent + n
  else
    local members = redis.call('ZRANGEBYSCORE', group_key, fresh, '+inf')
    if #members == 0 then
      absent = absent + n
    else
      local by_key, keys = {}, {}
      for _, channel in ipairs(members) do
        local bang = string.find(channel, '!', 1, true)
        local key = prefix .. (bang and string.sub(channel, 1, bang) or channel)
        if not by_key[key] then
          by_key[key] = {}
          keys[#keys + 1] = key
        end
        local list = by_key[key]
        list[#list + 1] = channel
      end
      local seq = ''
      if numbered == '1' then
        local seq_key = prefix .. ':seq:' .. uid
        if redis.call('EXISTS', seq_key) == 0 then
          redis.call('SET', seq_key, string.format('%.0f', math.floor(now * 1000)))
        end
        local first = redis.call('INCRBY', seq_key, n) - n + 1
        seq = string.format('%.0f', first)
        redis.call('EXPIRE', seq_key, seq_ttl)
        if replay_max > 0 then
          local recent_key = prefix .. ':recent:' .. uid
          if n == 1 then
            redis.call('RPUSH', recent_key, seq .. ';' .. rnd .. body)
          else
            for i = 0, n - 1 do
              redis.call('RPUSH', recent_key, string.format('%.0f', first + i) .. ';' .. ARGV[singles + i])
            end
          end
          redis.call('LTRIM', recent_key, -replay_max, -1)
          redis.call('EXPIRE', recent_key, replay_ttl)
        end
      end
      for _, key in ipairs(keys) do
        if not cleaned[key] then
          redis.call('ZREMRANGEBYSCORE', key, '-inf', stale)
          cleaned[key] = true
        end
        local capacity = other_capacity
        if string.sub(key, -1) == '!' then capacity = process_capacity end
        if redis.call('ZCARD', key) < capacity then
          local score = now
          local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
          if last[2] and tonumber(last[2]) >= score then score = tonumber(last[2]) + 0.000001 end
          local member = rnd .. '\\193' .. seq .. ';' .. table.concat(by_key[key], ',') .. ';' .. body
          redis.call('ZADD', key, string.format('%.6f', score), member)
          redis.call('EXPIRE', key, expiry)
          written = written + 1
        else
          dropped = dropped + n
        end
      end
    end
  end
end
return {written, dropped, absent}
"""


# KEYS: the player's sequence counter, their recent events. ARGV: the last number the
# client saw. Returns {current number or '', 1 if every event after it is still kept (then
# those events follow, 'seq;message', oldest first) else 0}.
REPLAY = """
local current = redis.call('GET', KEYS[1])
if not current then return {'', 0} end
local last = tonumber(current)
local want = tonumber(ARGV[1]) + 1
if want - 1 > last then return {current, 0} end
local out = {current, 0}
if want - 1 < last then
  for _, item in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    local number = tonumber(string.sub(item, 1, string.find(item, ';', 1, true) - 1))
    if number >= want then
      if number ~= want then return {current, 0} end
      out[#out + 1] = item
      want = want + 1
    end
  end
  if want - 1 ~= last then return {current, 0} end
end
out[2] = 1
return out
"""


# The first step of every receive of a queue (``RedisChannelLayer._brpop_with_clean``).
# KEYS: the queue, its backup. ARGV: the backup's expiry in seconds, then the messages
# received earlier and handed on (they leave the backup). What is left in the backup was taken
# by a receive that was cancelled before it had it: back to the queue, in its place. Then the
# first message waiting moves to the backup and is returned; false when none waits.
TAKE = """
for i = 2, #ARGV do
  redis.call('ZREM', KEYS[2], ARGV[i])
end
local backed_up = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
for i = #backed_up, 1, -2 do
  redis.call('ZADD', KEYS[1], backed_up[i], backed_up[i - 1])
end
redis.call('DEL', KEYS[2])
local first = redis.call('ZPOPMIN', KEYS[1])
if first[1] == nil then return false end
redis.call('ZADD', KEYS[2], first[2], first[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return first[1]
"""

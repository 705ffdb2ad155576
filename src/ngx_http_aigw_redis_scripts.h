/*
 * aigw: the Lua scripts of the redis store (Redis >= 5; written for 7).
 *
 * They implement the rules of aigw_window.c on Redis data, with the same
 * integer arithmetic (Lua numbers are doubles: exact below 2^53, far above
 * anything counted here; divisions that may not be exact go through an
 * exact floor division and numbers are written with "%d", never in exponent
 * form).  The ARGV numbers are decimal integers, as the C side sends them.
 *
 * Data per subject id:
 *   <prefix>s:<id>  hash: m (Unix minute of the "c" counts), rc, rp (requests
 *                   of that minute and of the one before), tc, tp (tokens),
 *                   pd (budget period id), sp (spend in micro-USD);
 *   <prefix>c:<id>  sorted set of the request ids in flight, scored by the
 *                   time (ms) at which a slot is forgotten if never settled;
 *                   only for a subject with a concurrency limit.
 *
 * ADMIT
 *   KEYS: per subject, its hash then its set.
 *   ARGV: now_ms (0 or less: the Redis server's clock), tokens, cost,
 *         request_id, lifetime_ms, then per subject rpm, tpm, concurrency,
 *         budget (-1: none), period (0 total, 1 daily, 2 monthly).
 *   Every subject is rolled and checked as aigw_window_check() does; only
 *   when all pass is aigw_window_reserve() applied to all.  A refusal writes
 *   nothing but the removal of expired slots (rolling is idempotent, so not
 *   saving it changes no later answer).
 *   A subject whose concurrency limit is 0 never needs its set: it is not
 *   touched (SETTLE's ZREM of a set that does not exist changes nothing).
 *   An admission writes rc, tc and sp, or the whole hash when it is new or
 *   its minute or period changes; only then is the hash's TTL set: 180 s
 *   without a budget (set in the first admission of a minute, it outlives
 *   the two minutes that count), the period's end + 1 day for a daily or
 *   monthly budget, none for a total budget.
 *   Returns: refused kind (0: admitted), refused subject index (0-based),
 *   retry_after_ms, minute, the n period ids, then per subject
 *   remaining_requests, reset_requests_ms, remaining_tokens,
 *   reset_tokens_ms (-1: no such limit).
 *
 * SETTLE
 *   KEYS: as ADMIT.
 *   ARGV: minute, tokens_delta, cost_delta, request_id, then the period id
 *         of each subject (as returned by ADMIT).
 *   aigw_window_settle() on each existing hash, and the slot is released.
 *
 * Cost: Redis runs these for every request, so they keep to one HMGET and
 * one HSET per subject, few other calls, few tables and strings, and no
 * helper closure with upvalues (Redis 7 allows no globals to keep them in
 * from one call to the next).
 */

#ifndef _NGX_HTTP_AIGW_REDIS_SCRIPTS_H_INCLUDED_
#define _NGX_HTTP_AIGW_REDIS_SCRIPTS_H_INCLUDED_


#define NGX_HTTP_AIGW_REDIS_LUA_COMMON                                        \
"local floor, tonumber, fmt = math.floor, tonumber, string.format\n"          \
"local call = redis.call\n"


#define NGX_HTTP_AIGW_REDIS_ADMIT_LUA                                         \
"-- aigw admit v2\n"                                                          \
NGX_HTTP_AIGW_REDIS_LUA_COMMON                                                \
"local M = 60000\n"                                                           \
"local function civil(days, floor)\n"                                         \
"  days = days + 719468\n"                                                    \
"  local era = floor(days / 146097)\n"                                        \
"  local doe = days - era * 146097\n"                                         \
"  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524)\n"         \
"                     - floor(doe / 146096)) / 365)\n"                        \
"  local mp = floor((5 * (doe - (365 * yoe + floor(yoe / 4)\n"                \
"                                - floor(yoe / 100))) + 2) / 153)\n"          \
"  local y = yoe + era * 400\n"                                               \
"  if mp < 10 then return y, mp + 3 end\n"                                    \
"  return y + 1, mp - 9\n"                                                    \
"end\n"                                                                       \
"local function reset_ms(p, now, floor, civil)\n"                             \
"  if p == 1 then return 86400000 - now % 86400000 end\n"                     \
"  if p == 2 then\n"                                                          \
"    local y, m = civil(floor(now / 86400000), floor)\n"                      \
"    if m == 12 then y = y + 1; m = 1 else m = m + 1 end\n"                   \
"    if m <= 2 then y = y - 1; m = m + 9 else m = m - 3 end\n"                \
"    local era = floor(y / 400)\n"                                            \
"    local yoe = y - era * 400\n"                                             \
"    return (era * 146097 + yoe * 365 + floor(yoe / 4) - floor(yoe / 100)\n"  \
"            + floor((153 * m + 2) / 5) - 719468) * 86400000 - now\n"         \
"  end\n"                                                                     \
"  return -1\n"                                                               \
"end\n"                                                                       \
"local function wait(prev, cur, need, limit, ms, floor)\n"                    \
"  if need > limit then return -1 end\n"                                      \
"  local a, b\n"                                                              \
"  if cur + need <= limit then a = 60000 * (limit - cur - need); b = prev\n"  \
"  else a = 60000 * (limit - need); b = cur end\n"                            \
"  local q = floor(a / b)\n"                                                  \
"  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end\n"  \
"  local s = 60000 - q\n"                                                     \
"  if cur + need <= limit then\n"                                             \
"    if s > ms then return s - ms end\n"                                      \
"    return 0\n"                                                              \
"  end\n"                                                                     \
"  if s < 0 then s = 0 end\n"                                                 \
"  return 60000 - ms + s\n"                                                   \
"end\n"                                                                       \
"local now = ARGV[1] + 0\n"                                                   \
"if now <= 0 then\n"                                                          \
"  if redis.replicate_commands then redis.replicate_commands() end\n"         \
"  local t = call('TIME')\n"                                                  \
"  now = t[1] * 1000 + floor(t[2] / 1000)\n"                                  \
"end\n"                                                                       \
"local tokens, cost = ARGV[2] + 0, ARGV[3] + 0\n"                             \
"local n = floor(#KEYS / 2)\n"                                                \
"local minute = floor(now / M)\n"                                             \
"local ms = now - minute * M\n"                                               \
"local kind, index, retry = 0, 0, 0\n"                                        \
"local res = { 0, 0, 0, minute, 0, 0, 0, 0, 0 }\n"                            \
"if n == 0 then res[5] = nil end\n"                                           \
"local st, day, month, snow = { false }, nil, nil, nil\n"                     \
"for i = 1, n do\n"                                                           \
"  local a = 5 * i\n"                                                         \
"  local rpm, tpm = ARGV[a + 1] + 0, ARGV[a + 2] + 0\n"                       \
"  local conc, budget = ARGV[a + 3] + 0, ARGV[a + 4] + 0\n"                   \
"  local v = call('HMGET', KEYS[2 * i - 1],\n"                                \
"                 'm', 'rc', 'rp', 'tc', 'tp', 'pd', 'sp')\n"                 \
"  local m, rc, rp = tonumber(v[1]) or 0, tonumber(v[2]) or 0,\n"             \
"                    tonumber(v[3]) or 0\n"                                   \
"  local tc, tp = tonumber(v[4]) or 0, tonumber(v[5]) or 0\n"                 \
"  local pd, sp = tonumber(v[6]) or 0, tonumber(v[7]) or 0\n"                 \
"  local f = 0\n"                                                             \
"  if not (v[1] and v[2] and v[3] and v[4] and v[5] and v[6] and v[7])\n"     \
"  then\n"                                                                    \
"    f = 1\n"                                                                 \
"  end\n"                                                                     \
"  if m ~= minute then\n"                                                     \
"    if m + 1 == minute then rp = rc; tp = tc else rp = 0; tp = 0 end\n"      \
"    rc = 0; tc = 0; m = minute; f = 1\n"                                     \
"  end\n"                                                                     \
"  if budget >= 0 then\n"                                                     \
"    local p, pid = ARGV[a + 5] + 0, 0\n"                                     \
"    if p == 1 then\n"                                                        \
"      day = day or floor(now / 86400000)\n"                                  \
"      pid = day\n"                                                           \
"    elseif p == 2 then\n"                                                    \
"      if not month then\n"                                                   \
"        local y, mo = civil(floor(now / 86400000), floor)\n"                 \
"        month = y * 12 + mo - 1\n"                                           \
"      end\n"                                                                 \
"      pid = month\n"                                                         \
"    end\n"                                                                   \
"    if pd ~= pid then pd = pid; sp = 0; f = 1 end\n"                         \
"  end\n"                                                                     \
"  local concurrent = 0\n"                                                    \
"  if conc > 0 then\n"                                                        \
"    local z = KEYS[2 * i]\n"                                                 \
"    snow = snow or fmt('%d', now)\n"                                         \
"    call('ZREMRANGEBYSCORE', z, '-inf', snow)\n"                             \
"    concurrent = call('ZCARD', z)\n"                                         \
"    f = f + 2\n"                                                             \
"  end\n"                                                                     \
"  local r, ra = 0, 0\n"                                                      \
"  local rr, rsr, rt, rst = -1, -1, -1, -1\n"                                 \
"  if rpm > 0 then\n"                                                         \
"    local x = rp * (M - ms) + M - 1\n"                                       \
"    local u = floor(x / M)\n"                                                \
"    if u * M > x then u = u - 1\n"                                           \
"    elseif (u + 1) * M <= x then u = u + 1 end\n"                            \
"    u = u + rc\n"                                                            \
"    if u + 1 > rpm then\n"                                                   \
"      r = 1\n"                                                               \
"      ra = wait(rp, rc, 1, rpm, ms, floor)\n"                                \
"      rr = 0\n"                                                              \
"    else\n"                                                                  \
"      rr = rpm - u - 1\n"                                                    \
"    end\n"                                                                   \
"    if rc + 1 > 0 then rsr = 2 * M - ms\n"                                   \
"    elseif rp > 0 then rsr = M - ms else rsr = 0 end\n"                      \
"  end\n"                                                                     \
"  if tpm > 0 then\n"                                                         \
"    local x = tp * (M - ms) + M - 1\n"                                       \
"    local u = floor(x / M)\n"                                                \
"    if u * M > x then u = u - 1\n"                                           \
"    elseif (u + 1) * M <= x then u = u + 1 end\n"                            \
"    u = u + tc\n"                                                            \
"    if u + tokens > tpm then\n"                                              \
"      if r == 0 then\n"                                                      \
"        r = 2\n"                                                             \
"        ra = wait(tp, tc, tokens, tpm, ms, floor)\n"                         \
"      end\n"                                                                 \
"      if tpm > u then rt = tpm - u else rt = 0 end\n"                        \
"    else\n"                                                                  \
"      rt = tpm - u - tokens\n"                                               \
"    end\n"                                                                   \
"    if tc + tokens > 0 then rst = 2 * M - ms\n"                              \
"    elseif tp > 0 then rst = M - ms else rst = 0 end\n"                      \
"  end\n"                                                                     \
"  if r == 0 and conc > 0 and concurrent + 1 > conc then\n"                   \
"    r = 3\n"                                                                 \
"    ra = 1000\n"                                                             \
"  end\n"                                                                     \
"  if r == 0 and budget >= 0 and sp + cost > budget then\n"                   \
"    r = 4\n"                                                                 \
"    ra = reset_ms(ARGV[a + 5] + 0, now, floor, civil)\n"                     \
"  end\n"                                                                     \
"  if r ~= 0 and kind == 0 then\n"                                            \
"    kind = r; index = i - 1; retry = ra\n"                                   \
"  end\n"                                                                     \
"  v[1] = m; v[2] = rc; v[3] = rp; v[4] = tc\n"                               \
"  v[5] = tp; v[6] = pd; v[7] = sp; v[8] = f\n"                               \
"  st[i] = v\n"                                                               \
"  res[4 + i] = pd\n"                                                         \
"  a = 4 * i + n\n"                                                           \
"  res[a + 1] = rr; res[a + 2] = rsr; res[a + 3] = rt; res[a + 4] = rst\n"    \
"end\n"                                                                       \
"if kind == 0 then\n"                                                         \
"  local zexp, zttl\n"                                                        \
"  for i = 1, n do\n"                                                         \
"    local v = st[i]\n"                                                       \
"    local h, f = KEYS[2 * i - 1], v[8]\n"                                    \
"    if f % 2 == 1 then\n"                                                    \
"      call('HSET', h, 'm', fmt('%d', v[1]), 'rc', fmt('%d', v[2] + 1),\n"    \
"           'rp', fmt('%d', v[3]), 'tc', fmt('%d', v[4] + tokens),\n"         \
"           'tp', fmt('%d', v[5]), 'pd', fmt('%d', v[6]),\n"                  \
"           'sp', fmt('%d', v[7] + cost))\n"                                  \
"      local a = 5 * i\n"                                                     \
"      if ARGV[a + 4] + 0 < 0 then\n"                                         \
"        call('PEXPIRE', h, 180000)\n"                                        \
"      else\n"                                                                \
"        local p = ARGV[a + 5] + 0\n"                                         \
"        if p == 1 or p == 2 then\n"                                          \
"          call('PEXPIRE', h,\n"                                              \
"               fmt('%d', reset_ms(p, now, floor, civil) + 86400000))\n"      \
"        else\n"                                                              \
"          call('PERSIST', h)\n"                                              \
"        end\n"                                                               \
"      end\n"                                                                 \
"    else\n"                                                                  \
"      call('HSET', h, 'rc', fmt('%d', v[2] + 1),\n"                          \
"           'tc', fmt('%d', v[4] + tokens), 'sp', fmt('%d', v[7] + cost))\n"  \
"    end\n"                                                                   \
"    if f >= 2 then\n"                                                        \
"      if not zexp then\n"                                                    \
"        local life = ARGV[5] + 0\n"                                          \
"        if life <= 0 then life = 600000 end\n"                               \
"        zexp, zttl = fmt('%d', now + life), fmt('%d', life + 1000)\n"        \
"      end\n"                                                                 \
"      local z = KEYS[2 * i]\n"                                               \
"      call('ZADD', z, zexp, ARGV[4])\n"                                      \
"      call('PEXPIRE', z, zttl)\n"                                            \
"    end\n"                                                                   \
"  end\n"                                                                     \
"end\n"                                                                       \
"res[1] = kind; res[2] = index; res[3] = retry\n"                             \
"return res\n"


#define NGX_HTTP_AIGW_REDIS_SETTLE_LUA                                        \
"-- aigw settle v2\n"                                                         \
NGX_HTTP_AIGW_REDIS_LUA_COMMON                                                \
"local minute, td, cd = ARGV[1] + 0, ARGV[2] + 0, ARGV[3] + 0\n"              \
"local rid = ARGV[4]\n"                                                       \
"for i = 1, floor(#KEYS / 2) do\n"                                            \
"  local h = KEYS[2 * i - 1]\n"                                               \
"  call('ZREM', KEYS[2 * i], rid)\n"                                          \
"  if td ~= 0 or cd ~= 0 then\n"                                              \
"    local v = call('HMGET', h, 'm', 'tc', 'tp', 'pd', 'sp')\n"               \
"    if v[1] then\n"                                                          \
"      local m, tf, t = tonumber(v[1]) or 0, nil, 0\n"                        \
"      if td ~= 0 then\n"                                                     \
"        if m == minute then\n"                                               \
"          tf = 'tc'; t = (tonumber(v[2]) or 0) + td\n"                       \
"        elseif m == minute + 1 then\n"                                       \
"          tf = 'tp'; t = (tonumber(v[3]) or 0) + td\n"                       \
"        end\n"                                                               \
"        if t < 0 then t = 0 end\n"                                           \
"      end\n"                                                                 \
"      if cd ~= 0 and (tonumber(v[4]) or 0) == ARGV[4 + i] + 0 then\n"        \
"        local s = (tonumber(v[5]) or 0) + cd\n"                              \
"        if s < 0 then s = 0 end\n"                                           \
"        if tf then\n"                                                        \
"          call('HSET', h, tf, fmt('%d', t), 'sp', fmt('%d', s))\n"           \
"        else\n"                                                              \
"          call('HSET', h, 'sp', fmt('%d', s))\n"                             \
"        end\n"                                                               \
"      elseif tf then\n"                                                      \
"        call('HSET', h, tf, fmt('%d', t))\n"                                 \
"      end\n"                                                                 \
"    end\n"                                                                   \
"  end\n"                                                                     \
"end\n"                                                                       \
"return floor(#KEYS / 2)\n"


#endif /* _NGX_HTTP_AIGW_REDIS_SCRIPTS_H_INCLUDED_ */

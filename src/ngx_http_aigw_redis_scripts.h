/*
 * aigw: the Lua scripts of the redis store (Redis >= 5; written for 7).
 *
 * They implement the rules of aigw_window.c on Redis data, with the same
 * integer arithmetic (Lua numbers are doubles: exact below 2^53, far above
 * anything counted here; divisions go through an exact floor division and
 * numbers are written with "%d", never in exponent form).
 *
 * Data per subject id:
 *   <prefix>s:<id>  hash: m (Unix minute of the "c" counts), rc, rp (requests
 *                   of that minute and of the one before), tc, tp (tokens),
 *                   pd (budget period id), sp (spend in micro-USD);
 *   <prefix>c:<id>  sorted set of the request ids in flight, scored by the
 *                   time (ms) at which a slot is forgotten if never settled.
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
 */

#ifndef _NGX_HTTP_AIGW_REDIS_SCRIPTS_H_INCLUDED_
#define _NGX_HTTP_AIGW_REDIS_SCRIPTS_H_INCLUDED_


#define NGX_HTTP_AIGW_REDIS_LUA_COMMON                                        \
"local function fdiv(a, b)\n"                                                 \
"  local q = math.floor(a / b)\n"                                             \
"  if q * b > a then q = q - 1 elseif (q + 1) * b <= a then q = q + 1 end\n"  \
"  return q\n"                                                                \
"end\n"                                                                       \
"local function num(v)\n"                                                     \
"  return tonumber(v) or 0\n"                                                 \
"end\n"                                                                       \
"local function int(v)\n"                                                     \
"  return string.format('%d', v)\n"                                           \
"end\n"


#define NGX_HTTP_AIGW_REDIS_ADMIT_LUA                                         \
"-- aigw admit v1\n"                                                          \
NGX_HTTP_AIGW_REDIS_LUA_COMMON                                                \
"local M = 60000\n"                                                           \
"local function civil(days)\n"                                                \
"  days = days + 719468\n"                                                    \
"  local era = fdiv(days, 146097)\n"                                          \
"  local doe = days - era * 146097\n"                                         \
"  local yoe = fdiv(doe - fdiv(doe, 1460) + fdiv(doe, 36524)\n"               \
"                   - fdiv(doe, 146096), 365)\n"                              \
"  local doy = doe - (365 * yoe + fdiv(yoe, 4) - fdiv(yoe, 100))\n"           \
"  local mp = fdiv(5 * doy + 2, 153)\n"                                       \
"  local m\n"                                                                 \
"  if mp < 10 then m = mp + 3 else m = mp - 9 end\n"                          \
"  local y = yoe + era * 400\n"                                               \
"  if m <= 2 then y = y + 1 end\n"                                            \
"  return y, m\n"                                                             \
"end\n"                                                                       \
"local function days_from_civil(y, m)\n"                                      \
"  if m <= 2 then y = y - 1 end\n"                                            \
"  local era = fdiv(y, 400)\n"                                                \
"  local yoe = y - era * 400\n"                                               \
"  local mm\n"                                                                \
"  if m > 2 then mm = m - 3 else mm = m + 9 end\n"                            \
"  local doy = fdiv(153 * mm + 2, 5)\n"                                       \
"  local doe = yoe * 365 + fdiv(yoe, 4) - fdiv(yoe, 100) + doy\n"             \
"  return era * 146097 + doe - 719468\n"                                      \
"end\n"                                                                       \
"local function period_id(p, now_s)\n"                                        \
"  if p == 1 then return fdiv(now_s, 86400) end\n"                            \
"  if p == 2 then\n"                                                          \
"    local y, m = civil(fdiv(now_s, 86400))\n"                                \
"    return y * 12 + m - 1\n"                                                 \
"  end\n"                                                                     \
"  return 0\n"                                                                \
"end\n"                                                                       \
"local function period_reset_ms(p, now)\n"                                    \
"  if p == 1 then return 86400000 - (now - fdiv(now, 86400000) * 86400000)"   \
" end\n"                                                                      \
"  if p == 2 then\n"                                                          \
"    local y, m = civil(fdiv(now, 86400000))\n"                               \
"    m = m + 1\n"                                                             \
"    if m > 12 then m = 1; y = y + 1 end\n"                                   \
"    return days_from_civil(y, m) * 86400000 - now\n"                         \
"  end\n"                                                                     \
"  return -1\n"                                                               \
"end\n"                                                                       \
"local function used(prev, cur, ms)\n"                                        \
"  return cur + fdiv(prev * (M - ms) + M - 1, M)\n"                           \
"end\n"                                                                       \
"local function wait(prev, cur, need, limit, ms)\n"                           \
"  if need > limit then return -1 end\n"                                      \
"  local s\n"                                                                 \
"  if cur + need <= limit then\n"                                             \
"    s = M - fdiv(M * (limit - cur - need), prev)\n"                          \
"    if s > ms then return s - ms end\n"                                      \
"    return 0\n"                                                              \
"  end\n"                                                                     \
"  s = M - fdiv(M * (limit - need), cur)\n"                                   \
"  if s < 0 then s = 0 end\n"                                                 \
"  return M - ms + s\n"                                                       \
"end\n"                                                                       \
"local function reset(prev, cur, ms)\n"                                       \
"  if cur > 0 then return 2 * M - ms end\n"                                   \
"  if prev > 0 then return M - ms end\n"                                      \
"  return 0\n"                                                                \
"end\n"                                                                       \
"local now = num(ARGV[1])\n"                                                  \
"if now <= 0 then\n"                                                          \
"  if redis.replicate_commands then redis.replicate_commands() end\n"         \
"  local t = redis.call('TIME')\n"                                            \
"  now = num(t[1]) * 1000 + fdiv(num(t[2]), 1000)\n"                          \
"end\n"                                                                       \
"local tokens = num(ARGV[2])\n"                                               \
"local cost = num(ARGV[3])\n"                                                 \
"local rid = ARGV[4]\n"                                                       \
"local life = num(ARGV[5])\n"                                                 \
"if life <= 0 then life = 600000 end\n"                                       \
"local n = fdiv(#KEYS, 2)\n"                                                  \
"local minute = fdiv(now, M)\n"                                               \
"local ms = now - minute * M\n"                                               \
"local now_s = fdiv(now, 1000)\n"                                             \
"local kind, index, retry = 0, 0, 0\n"                                        \
"local subj, out = {}, {}\n"                                                  \
"for i = 1, n do\n"                                                           \
"  local b = 5 + (i - 1) * 5\n"                                               \
"  local l = { rpm = num(ARGV[b + 1]), tpm = num(ARGV[b + 2]),\n"             \
"              conc = num(ARGV[b + 3]), budget = num(ARGV[b + 4]),\n"         \
"              period = num(ARGV[b + 5]) }\n"                                 \
"  local h, z = KEYS[2 * i - 1], KEYS[2 * i]\n"                               \
"  local v = redis.call('HMGET', h, 'm', 'rc', 'rp', 'tc', 'tp', 'pd', 'sp')\n"\
"  local c = { m = num(v[1]), rc = num(v[2]), rp = num(v[3]), tc = num(v[4]),"\
"\n"                                                                          \
"              tp = num(v[5]), pd = num(v[6]), sp = num(v[7]) }\n"            \
"  if c.m ~= minute then\n"                                                   \
"    if c.m + 1 == minute then\n"                                             \
"      c.rp = c.rc; c.tp = c.tc\n"                                            \
"    else\n"                                                                  \
"      c.rp = 0; c.tp = 0\n"                                                  \
"    end\n"                                                                   \
"    c.rc = 0; c.tc = 0; c.m = minute\n"                                      \
"  end\n"                                                                     \
"  if l.budget >= 0 then\n"                                                   \
"    local pid = period_id(l.period, now_s)\n"                                \
"    if c.pd ~= pid then c.pd = pid; c.sp = 0 end\n"                          \
"  end\n"                                                                     \
"  redis.call('ZREMRANGEBYSCORE', z, '-inf', int(now))\n"                     \
"  local concurrent = redis.call('ZCARD', z)\n"                               \
"  local r, ra = 0, 0\n"                                                      \
"  local rr, rsr, rt, rst = -1, -1, -1, -1\n"                                 \
"  if l.rpm > 0 then\n"                                                       \
"    local u = used(c.rp, c.rc, ms)\n"                                        \
"    if u + 1 > l.rpm then\n"                                                 \
"      r = 1\n"                                                               \
"      ra = wait(c.rp, c.rc, 1, l.rpm, ms)\n"                                 \
"      rr = 0\n"                                                              \
"    else\n"                                                                  \
"      rr = l.rpm - u - 1\n"                                                  \
"    end\n"                                                                   \
"    rsr = reset(c.rp, c.rc + 1, ms)\n"                                       \
"  end\n"                                                                     \
"  if l.tpm > 0 then\n"                                                       \
"    local u = used(c.tp, c.tc, ms)\n"                                        \
"    if u + tokens > l.tpm then\n"                                            \
"      if r == 0 then\n"                                                      \
"        r = 2\n"                                                             \
"        ra = wait(c.tp, c.tc, tokens, l.tpm, ms)\n"                          \
"      end\n"                                                                 \
"      if l.tpm > u then rt = l.tpm - u else rt = 0 end\n"                    \
"    else\n"                                                                  \
"      rt = l.tpm - u - tokens\n"                                             \
"    end\n"                                                                   \
"    rst = reset(c.tp, c.tc + tokens, ms)\n"                                  \
"  end\n"                                                                     \
"  if r == 0 and l.conc > 0 and concurrent + 1 > l.conc then\n"               \
"    r = 3\n"                                                                 \
"    ra = 1000\n"                                                             \
"  end\n"                                                                     \
"  if r == 0 and l.budget >= 0 and c.sp + cost > l.budget then\n"             \
"    r = 4\n"                                                                 \
"    ra = period_reset_ms(l.period, now)\n"                                   \
"  end\n"                                                                     \
"  if r ~= 0 and kind == 0 then\n"                                            \
"    kind = r; index = i - 1; retry = ra\n"                                   \
"  end\n"                                                                     \
"  subj[i] = { h = h, z = z, l = l, c = c }\n"                                \
"  out[#out + 1] = rr; out[#out + 1] = rsr\n"                                 \
"  out[#out + 1] = rt; out[#out + 1] = rst\n"                                 \
"end\n"                                                                       \
"if kind == 0 then\n"                                                         \
"  for i = 1, n do\n"                                                         \
"    local s = subj[i]\n"                                                     \
"    local c, l = s.c, s.l\n"                                                 \
"    c.rc = c.rc + 1\n"                                                       \
"    c.tc = c.tc + tokens\n"                                                  \
"    c.sp = c.sp + cost\n"                                                    \
"    redis.call('HSET', s.h, 'm', int(c.m), 'rc', int(c.rc), 'rp', int(c.rp),"\
"\n"                                                                          \
"               'tc', int(c.tc), 'tp', int(c.tp), 'pd', int(c.pd),\n"         \
"               'sp', int(c.sp))\n"                                           \
"    if l.budget < 0 then\n"                                                  \
"      redis.call('PEXPIRE', s.h, 180000)\n"                                  \
"    elseif l.period == 1 or l.period == 2 then\n"                            \
"      redis.call('PEXPIRE', s.h,\n"                                          \
"                 int(period_reset_ms(l.period, now) + 86400000))\n"          \
"    else\n"                                                                  \
"      redis.call('PERSIST', s.h)\n"                                          \
"    end\n"                                                                   \
"    redis.call('ZADD', s.z, int(now + life), rid)\n"                         \
"    redis.call('PEXPIRE', s.z, int(life + 1000))\n"                          \
"  end\n"                                                                     \
"end\n"                                                                       \
"local res = { kind, index, retry, minute }\n"                                \
"for i = 1, n do res[#res + 1] = subj[i].c.pd end\n"                          \
"for i = 1, #out do res[#res + 1] = out[i] end\n"                             \
"return res\n"


#define NGX_HTTP_AIGW_REDIS_SETTLE_LUA                                        \
"-- aigw settle v1\n"                                                         \
NGX_HTTP_AIGW_REDIS_LUA_COMMON                                                \
"local minute = num(ARGV[1])\n"                                               \
"local td = num(ARGV[2])\n"                                                   \
"local cd = num(ARGV[3])\n"                                                   \
"local rid = ARGV[4]\n"                                                       \
"local n = fdiv(#KEYS, 2)\n"                                                  \
"for i = 1, n do\n"                                                           \
"  local h, z = KEYS[2 * i - 1], KEYS[2 * i]\n"                               \
"  local period = num(ARGV[4 + i])\n"                                         \
"  redis.call('ZREM', z, rid)\n"                                              \
"  local v = redis.call('HMGET', h, 'm', 'tc', 'tp', 'pd', 'sp')\n"           \
"  if v[1] then\n"                                                            \
"    local m = num(v[1])\n"                                                   \
"    if td ~= 0 then\n"                                                       \
"      if m == minute then\n"                                                 \
"        local t = num(v[2]) + td\n"                                          \
"        if t < 0 then t = 0 end\n"                                           \
"        redis.call('HSET', h, 'tc', int(t))\n"                               \
"      elseif m == minute + 1 then\n"                                         \
"        local t = num(v[3]) + td\n"                                          \
"        if t < 0 then t = 0 end\n"                                           \
"        redis.call('HSET', h, 'tp', int(t))\n"                               \
"      end\n"                                                                 \
"    end\n"                                                                   \
"    if cd ~= 0 and num(v[4]) == period then\n"                               \
"      local s = num(v[5]) + cd\n"                                            \
"      if s < 0 then s = 0 end\n"                                             \
"      redis.call('HSET', h, 'sp', int(s))\n"                                 \
"    end\n"                                                                   \
"  end\n"                                                                     \
"end\n"                                                                       \
"return n\n"


#endif /* _NGX_HTTP_AIGW_REDIS_SCRIPTS_H_INCLUDED_ */

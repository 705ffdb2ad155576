/*
 * aigw: the Lua script of the redis store (Redis >= 5; written for 7).
 *
 * It implements the rules of aigw_window.c on Redis data, with the same
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
 * One call runs a batch: the admissions and settlements a worker collected
 * while its previous batch was out, in order, each as if it ran alone.
 * Redis spends most of a call on the Lua around the commands, so a batch
 * reads each subject's hash and the size of its set once, counts in Lua,
 * and writes back once: the hash whole, the slots taken and freed in one
 * ZADD and one ZREM.  The count of a set is kept as an upper bound (a slot
 * freed in an earlier batch may have expired already); only when it would
 * refuse are the pending changes written, the expired slots removed and
 * the set counted again, so a refusal is always exact.
 *
 *   KEYS: per subject of the batch (a subject id with its limits), its hash
 *         then its set.
 *   ARGV: now_ms (0 or less: the Redis server's clock), lifetime_ms of a
 *         slot, S the number of subjects, then per subject rpm, tpm,
 *         concurrency, budget (-1: none), period (0 total, 1 daily,
 *         2 monthly); then the items, each one of
 *           "a", n, tokens, cost, request_id, n subject numbers (1-based);
 *           "s", n, minute, tokens_delta, cost_delta, request_id, then per
 *                subject its number and the period id the admission
 *                returned.
 *   Returns one element per item: an admission's answer (below) as one
 *   string of integers separated by spaces (one reply object instead of a
 *   dozen for the client to allocate), a settlement's n, or an error (that
 *   item alone failed).
 *
 * An admission rolls and checks every subject as aigw_window_check() does;
 * only when all pass is aigw_window_reserve() applied to all.  A refusal
 * changes nothing but the rolling (idempotent: saving it changes no later
 * answer) and the removal of expired slots, which happens only when they
 * would refuse.  A subject whose concurrency limit is 0 never needs its
 * set.  Its answer: refused kind (0: admitted), refused subject index
 * (0-based), retry_after_ms, minute, the n period ids, then per subject
 * remaining_requests, reset_requests_ms, remaining_tokens, reset_tokens_ms
 * (-1: no such limit).
 *
 * A settlement applies aigw_window_settle() to each existing hash and
 * releases the slot.
 *
 * At the end every changed hash is written whole; its TTL is set when it is
 * new or its minute or period changed: 180 s without a budget (it outlives
 * the two minutes that count), the period's end + 1 day for a daily or
 * monthly budget, none for a total budget.  A set that got a slot lives
 * lifetime + 1 s from the batch.
 */

#ifndef _NGX_HTTP_AIGW_REDIS_SCRIPTS_H_INCLUDED_
#define _NGX_HTTP_AIGW_REDIS_SCRIPTS_H_INCLUDED_


#define NGX_HTTP_AIGW_REDIS_BATCH_LUA                                         \
"-- aigw batch v3\n"                                                          \
"local floor, tonumber, fmt = math.floor, tonumber, string.format\n"          \
"local call, pcall, unpack = redis.call, pcall, unpack\n"                     \
"local M = 60000\n"                                                           \
"local function civil(days)\n"                                                \
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
"local function reset_ms(p, now)\n"                                           \
"  if p == 1 then return 86400000 - now % 86400000 end\n"                     \
"  if p == 2 then\n"                                                          \
"    local y, m = civil(floor(now / 86400000))\n"                             \
"    if m == 12 then y = y + 1; m = 1 else m = m + 1 end\n"                   \
"    if m <= 2 then y = y - 1; m = m + 9 else m = m - 3 end\n"                \
"    local era = floor(y / 400)\n"                                            \
"    local yoe = y - era * 400\n"                                             \
"    return (era * 146097 + yoe * 365 + floor(yoe / 4) - floor(yoe / 100)\n"  \
"            + floor((153 * m + 2) / 5) - 719468) * 86400000 - now\n"         \
"  end\n"                                                                     \
"  return -1\n"                                                               \
"end\n"                                                                       \
"local function wait(prev, cur, need, limit, ms)\n"                           \
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
"local life = ARGV[2] + 0\n"                                                  \
"if life <= 0 then life = 600000 end\n"                                       \
"local ns = ARGV[3] + 0\n"                                                    \
"local minute = floor(now / M)\n"                                             \
"local ms = now - minute * M\n"                                               \
"local day, month, snow, zexp\n"                                              \
"local lim, cache, order, rfmt = {}, {}, {}, {}\n"                            \
"local function limits(j)\n"                                                  \
"  local l = lim[j]\n"                                                        \
"  if l then return l end\n"                                                  \
"  local a = 3 + 5 * (j - 1)\n"                                               \
"  l = { ARGV[a + 1] + 0, ARGV[a + 2] + 0, ARGV[a + 3] + 0, ARGV[a + 4] + 0,\n"\
"        ARGV[a + 5] + 0 }\n"                                                 \
"  lim[j] = l\n"                                                              \
"  return l\n"                                                                \
"end\n"                                                                       \
"local function subject(j)\n"                                                 \
"  local h = KEYS[2 * j - 1]\n"                                               \
"  local s = cache[h]\n"                                                      \
"  if s then return s end\n"                                                  \
"  local v = call('HMGET', h, 'm', 'rc', 'rp', 'tc', 'tp', 'pd', 'sp')\n"     \
"  s = { h = h, z = KEYS[2 * j], exists = v[1] and true or false,\n"          \
"        m = tonumber(v[1]) or 0, rc = tonumber(v[2]) or 0,\n"                \
"        rp = tonumber(v[3]) or 0, tc = tonumber(v[4]) or 0,\n"               \
"        tp = tonumber(v[5]) or 0, pd = tonumber(v[6]) or 0,\n"               \
"        sp = tonumber(v[7]) or 0, full = false, dirty = false,\n"            \
"        zn = false, zadd = false, l = false, add = {}, rem = {} }\n"         \
"  if not (v[1] and v[2] and v[3] and v[4] and v[5] and v[6] and v[7]) then\n"\
"    s.full = true\n"                                                         \
"  end\n"                                                                     \
"  cache[h] = s\n"                                                            \
"  order[#order + 1] = s\n"                                                   \
"  return s\n"                                                                \
"end\n"                                                                       \
"local function zflush(s)\n"                                                  \
"  local a, n = {}, 0\n"                                                      \
"  zexp = zexp or fmt('%d', now + life)\n"                                    \
"  for rid in pairs(s.add) do\n"                                              \
"    a[n + 1] = zexp; a[n + 2] = rid; n = n + 2\n"                            \
"  end\n"                                                                     \
"  if n > 0 then call('ZADD', s.z, unpack(a)) end\n"                          \
"  if #s.rem > 0 then call('ZREM', s.z, unpack(s.rem)) end\n"                 \
"  s.add = {}; s.rem = {}\n"                                                  \
"end\n"                                                                       \
"local function admit(ai, n)\n"                                               \
"  local tokens, cost = ARGV[ai] + 0, ARGV[ai + 1] + 0\n"                     \
"  local kind, index, retry = 0, 0, 0\n"                                      \
"  local res = { 0, 0, 0, minute, 0, 0, 0, 0, 0 }\n"                          \
"  if n == 0 then res[5] = nil end\n"                                         \
"  local st = {}\n"                                                           \
"  for i = 1, n do\n"                                                         \
"    local j = ARGV[ai + 2 + i] + 0\n"                                        \
"    local l = limits(j)\n"                                                   \
"    local rpm, tpm, conc, budget = l[1], l[2], l[3], l[4]\n"                 \
"    local s = subject(j)\n"                                                  \
"    st[i] = s\n"                                                             \
"    st[n + i] = l\n"                                                         \
"    if s.m ~= minute then\n"                                                 \
"      if s.m + 1 == minute then s.rp = s.rc; s.tp = s.tc\n"                  \
"      else s.rp = 0; s.tp = 0 end\n"                                         \
"      s.rc = 0; s.tc = 0; s.m = minute; s.full = true\n"                     \
"    end\n"                                                                   \
"    if budget >= 0 then\n"                                                   \
"      local p, pid = l[5], 0\n"                                              \
"      if p == 1 then\n"                                                      \
"        day = day or floor(now / 86400000)\n"                                \
"        pid = day\n"                                                         \
"      elseif p == 2 then\n"                                                  \
"        if not month then\n"                                                 \
"          local y, mo = civil(floor(now / 86400000))\n"                      \
"          month = y * 12 + mo - 1\n"                                         \
"        end\n"                                                               \
"        pid = month\n"                                                       \
"      end\n"                                                                 \
"      if s.pd ~= pid then s.pd = pid; s.sp = 0; s.full = true end\n"         \
"    end\n"                                                                   \
"    local rc, rp, tc, tp = s.rc, s.rp, s.tc, s.tp\n"                         \
"    local r, ra = 0, 0\n"                                                    \
"    local rr, rsr, rt, rst = -1, -1, -1, -1\n"                               \
"    if rpm > 0 then\n"                                                       \
"      local x = rp * (M - ms) + M - 1\n"                                     \
"      local u = floor(x / M)\n"                                              \
"      if u * M > x then u = u - 1\n"                                         \
"      elseif (u + 1) * M <= x then u = u + 1 end\n"                          \
"      u = u + rc\n"                                                          \
"      if u + 1 > rpm then\n"                                                 \
"        r = 1\n"                                                             \
"        ra = wait(rp, rc, 1, rpm, ms)\n"                                     \
"        rr = 0\n"                                                            \
"      else\n"                                                                \
"        rr = rpm - u - 1\n"                                                  \
"      end\n"                                                                 \
"      if rc + 1 > 0 then rsr = 2 * M - ms\n"                                 \
"      elseif rp > 0 then rsr = M - ms else rsr = 0 end\n"                    \
"    end\n"                                                                   \
"    if tpm > 0 then\n"                                                       \
"      local x = tp * (M - ms) + M - 1\n"                                     \
"      local u = floor(x / M)\n"                                              \
"      if u * M > x then u = u - 1\n"                                         \
"      elseif (u + 1) * M <= x then u = u + 1 end\n"                          \
"      u = u + tc\n"                                                          \
"      if u + tokens > tpm then\n"                                            \
"        if r == 0 then\n"                                                    \
"          r = 2\n"                                                           \
"          ra = wait(tp, tc, tokens, tpm, ms)\n"                              \
"        end\n"                                                               \
"        if tpm > u then rt = tpm - u else rt = 0 end\n"                      \
"      else\n"                                                                \
"        rt = tpm - u - tokens\n"                                             \
"      end\n"                                                                 \
"      if tc + tokens > 0 then rst = 2 * M - ms\n"                            \
"      elseif tp > 0 then rst = M - ms else rst = 0 end\n"                    \
"    end\n"                                                                   \
"    if r == 0 and conc > 0 then\n"                                           \
"      if not s.zn then s.zn = call('ZCARD', s.z) end\n"                      \
"      if s.zn + 1 > conc then\n"                                             \
"        zflush(s)\n"                                                         \
"        snow = snow or fmt('%d', now)\n"                                     \
"        call('ZREMRANGEBYSCORE', s.z, '-inf', snow)\n"                       \
"        s.zn = call('ZCARD', s.z)\n"                                         \
"        if s.zn + 1 > conc then\n"                                           \
"          r = 3\n"                                                           \
"          ra = 1000\n"                                                       \
"        end\n"                                                               \
"      end\n"                                                                 \
"    end\n"                                                                   \
"    if r == 0 and budget >= 0 and s.sp + cost > budget then\n"               \
"      r = 4\n"                                                               \
"      ra = reset_ms(l[5], now)\n"                                            \
"    end\n"                                                                   \
"    if r ~= 0 and kind == 0 then\n"                                          \
"      kind = r; index = i - 1; retry = ra\n"                                 \
"    end\n"                                                                   \
"    res[4 + i] = s.pd\n"                                                     \
"    local a = 4 * i + n\n"                                                   \
"    res[a + 1] = rr; res[a + 2] = rsr; res[a + 3] = rt; res[a + 4] = rst\n"  \
"  end\n"                                                                     \
"  if kind == 0 then\n"                                                       \
"    for i = 1, n do\n"                                                       \
"      local s, l = st[i], st[n + i]\n"                                       \
"      s.rc = s.rc + 1; s.tc = s.tc + tokens; s.sp = s.sp + cost\n"           \
"      s.dirty = true; s.exists = true; s.l = l\n"                            \
"      if l[3] > 0 then\n"                                                    \
"        s.add[ARGV[ai + 2]] = true\n"                                        \
"        s.zn = (s.zn or 0) + 1\n"                                            \
"        s.zadd = true\n"                                                     \
"      end\n"                                                                 \
"    end\n"                                                                   \
"  end\n"                                                                     \
"  res[1] = kind; res[2] = index; res[3] = retry\n"                           \
"  local f = rfmt[n]\n"                                                       \
"  if not f then\n"                                                           \
"    f = string.rep('%d ', 4 + 5 * n - 1) .. '%d'\n"                          \
"    rfmt[n] = f\n"                                                           \
"  end\n"                                                                     \
"  return fmt(f, unpack(res))\n"                                              \
"end\n"                                                                       \
"local function settle(ai, n)\n"                                              \
"  local minute, td, cd = ARGV[ai] + 0, ARGV[ai + 1] + 0, ARGV[ai + 2] + 0\n" \
"  local rid = ARGV[ai + 3]\n"                                                \
"  for i = 1, n do\n"                                                         \
"    local j = ARGV[ai + 2 + 2 * i] + 0\n"                                    \
"    local s = subject(j)\n"                                                  \
"    if s.add[rid] then\n"                                                    \
"      s.add[rid] = nil\n"                                                    \
"      s.zn = s.zn - 1\n"                                                     \
"    else\n"                                                                  \
"      s.rem[#s.rem + 1] = rid\n"                                             \
"    end\n"                                                                   \
"    if td ~= 0 or cd ~= 0 then\n"                                            \
"      if s.exists then\n"                                                    \
"        if td ~= 0 then\n"                                                   \
"          if s.m == minute then\n"                                           \
"            s.tc = s.tc + td\n"                                              \
"            if s.tc < 0 then s.tc = 0 end\n"                                 \
"            s.dirty = true\n"                                                \
"          elseif s.m == minute + 1 then\n"                                   \
"            s.tp = s.tp + td\n"                                              \
"            if s.tp < 0 then s.tp = 0 end\n"                                 \
"            s.dirty = true\n"                                                \
"          end\n"                                                             \
"        end\n"                                                               \
"        if cd ~= 0 and s.pd == ARGV[ai + 3 + 2 * i] + 0 then\n"              \
"          s.sp = s.sp + cd\n"                                                \
"          if s.sp < 0 then s.sp = 0 end\n"                                   \
"          s.dirty = true\n"                                                  \
"        end\n"                                                               \
"      end\n"                                                                 \
"    end\n"                                                                   \
"  end\n"                                                                     \
"  return n\n"                                                                \
"end\n"                                                                       \
"local out, ai = {}, 4 + 5 * ns\n"                                            \
"while ARGV[ai] do\n"                                                         \
"  local t, n = ARGV[ai], ARGV[ai + 1] + 0\n"                                 \
"  local ok, r\n"                                                             \
"  if t == 'a' then\n"                                                        \
"    ok, r = pcall(admit, ai + 2, n)\n"                                       \
"    ai = ai + 5 + n\n"                                                       \
"  else\n"                                                                    \
"    ok, r = pcall(settle, ai + 2, n)\n"                                      \
"    ai = ai + 6 + 2 * n\n"                                                   \
"  end\n"                                                                     \
"  if ok then\n"                                                              \
"    out[#out + 1] = r\n"                                                     \
"  else\n"                                                                    \
"    out[#out + 1] = { err = type(r) == 'table' and r.err or tostring(r) }\n" \
"  end\n"                                                                     \
"end\n"                                                                       \
"for i = 1, #order do\n"                                                      \
"  local s = order[i]\n"                                                      \
"  if s.dirty then\n"                                                         \
"    call('HSET', s.h, 'm', fmt('%d', s.m), 'rc', fmt('%d', s.rc),\n"         \
"         'rp', fmt('%d', s.rp), 'tc', fmt('%d', s.tc),\n"                    \
"         'tp', fmt('%d', s.tp), 'pd', fmt('%d', s.pd),\n"                    \
"         'sp', fmt('%d', s.sp))\n"                                           \
"    local l = s.l\n"                                                         \
"    if s.full and l then\n"                                                  \
"      if l[4] < 0 then\n"                                                    \
"        call('PEXPIRE', s.h, 180000)\n"                                      \
"      elseif l[5] == 1 or l[5] == 2 then\n"                                  \
"        call('PEXPIRE', s.h, fmt('%d', reset_ms(l[5], now) + 86400000))\n"   \
"      else\n"                                                                \
"        call('PERSIST', s.h)\n"                                              \
"      end\n"                                                                 \
"    end\n"                                                                   \
"  end\n"                                                                     \
"  zflush(s)\n"                                                               \
"  if s.zadd then call('PEXPIRE', s.z, fmt('%d', life + 1000)) end\n"         \
"end\n"                                                                       \
"return out\n"


#endif /* _NGX_HTTP_AIGW_REDIS_SCRIPTS_H_INCLUDED_ */

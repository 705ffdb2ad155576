/*
 * aigw: the Lua script of the redis store (Redis >= 5; written for 7).
 *
 * It implements the rules of aigw_window.c on Redis data, with the same
 * integer arithmetic (Lua numbers are doubles: exact below 2^53, far above
 * anything counted here; divisions that may not be exact go through an
 * exact floor division and numbers are written with "%d", never in exponent
 * form).
 *
 * Data per subject id:
 *   <prefix>s:<id>  hash: m (Unix minute of the "c" counts), rc, rp (requests
 *                   of that minute and of the one before), tc, tp (tokens),
 *                   pd (budget period id), sp (spend in micro-USD);
 *   <prefix>i:<id>  hash of the requests in flight, only for a subject with
 *                   a concurrency limit: n (their number, an upper bound:
 *                   it may still count a dead worker's), and per worker id
 *                   "<count> <ms>": that worker's requests in flight, and
 *                   the time at which the field is forgotten if the worker
 *                   does not write it again.  (Earlier versions kept a
 *                   sorted set of request ids as <prefix>c:<id>: the new
 *                   name keeps old and new gateways on one Redis, during an
 *                   upgrade, from reading each other's keys as the wrong
 *                   type.)
 *
 * One call runs a batch: what a worker collected while its previous batch
 * was out.  Redis spends most of a call on the Lua around the commands, so
 * the work per request is kept small:
 *   - the settlements come summed per subject, minute and period id, and
 *     run first;
 *   - each worker counts its own requests in flight and sends the count
 *     with each batch, which sets its field: a slot the link lost (an
 *     admission or a release whose answer never came) is set right by the
 *     next batch, and no request id is sent;
 *   - the admissions come with their sums per subject: when all of them
 *     fit every limit at once, they are admitted at once (taken one by one
 *     in order, each one then fits), and the answer gives the state before
 *     them, from which the worker works out each one's answer; otherwise
 *     they run one by one, each as if it ran alone.
 * A subject's hashes are read once and written once.  Only when the count
 * of an "i" hash would refuse are the dead workers' fields removed and the
 * count made exact, so a refusal is always exact.
 *
 *   KEYS: per entry (a subject id with its limits), its "s" then "i" hash.
 *   ARGV: now_ms (0 or less: the Redis server's clock), lifetime_ms of a
 *         worker's field, the worker id, S the number of entries, then per
 *         entry rpm, tpm, concurrency, budget (-1: none), period (0 total,
 *         1 daily, 2 monthly), the worker's requests in flight before the
 *         batch's admissions, and the number, tokens and cost of the
 *         batch's admissions on it; then two binary strings, little-endian
 *         (struct.pack):
 *           the settlements, each "<Hi8i8i8i8": entry (1-based), minute,
 *           period id, tokens delta, cost delta;
 *           the admissions, each "<Bi8i8": n, tokens, cost, then n "<H"
 *           entries.
 *   Returns, at once: one string of "<i8": 0, minute, ms in the minute,
 *           settlements that failed, then per entry the period id, the
 *           requests and the tokens used in the window (the rounded-up
 *           estimate of the minute before plus this minute's), and tc and
 *           tp, all before the admissions (zeros for an entry without
 *           admissions).
 *           One by one: an array, the same header with 1, then one element
 *           per admission: a string of "<i8": refused kind (0: admitted),
 *           refused subject index (0-based), retry_after_ms, minute, the n
 *           period ids, then per subject remaining_requests,
 *           reset_requests_ms, remaining_tokens, reset_tokens_ms (-1: no
 *           such limit); or an error (that admission alone failed).
 *
 * An admission rolls and checks every subject as aigw_window_check() does;
 * only when all pass is aigw_window_reserve() applied to all.  A refusal
 * changes nothing but the rolling (idempotent: saving it changes no later
 * answer) and the removal of dead workers' fields.  A settlement applies
 * aigw_window_settle() to an existing hash.
 *
 * At the end every changed "s" hash is written whole; its TTL is set when it
 * is new or its minute or period changed: 180 s without a budget (it
 * outlives the two minutes that count), the period's end + 1 day for a
 * daily or monthly budget, none for a total budget.  An "i" hash lives
 * lifetime + 1 s from the last batch of a worker with requests in flight,
 * and goes when none is left.
 */

#ifndef _NGX_HTTP_AIGW_REDIS_SCRIPTS_H_INCLUDED_
#define _NGX_HTTP_AIGW_REDIS_SCRIPTS_H_INCLUDED_


#define NGX_HTTP_AIGW_REDIS_BATCH_LUA                                         \
"-- aigw batch v4\n"                                                          \
"local floor, tonumber = math.floor, tonumber\n"                              \
"local fmt, match = string.format, string.match\n"                            \
"local call, pcall, unpack = redis.call, pcall, unpack\n"                     \
"local spack, sunpack = struct.pack, struct.unpack\n"                         \
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
"local wid = ARGV[3]\n"                                                       \
"local ns = ARGV[4] + 0\n"                                                    \
"local minute = floor(now / M)\n"                                             \
"local ms = now - minute * M\n"                                               \
"local day, month, fails = nil, nil, 0\n"                                     \
"local cache, order, subs = {}, {}, {}\n"                                     \
"for j = 1, ns do\n"                                                          \
"  local a = 4 + 9 * (j - 1)\n"                                               \
"  subs[j] = { rpm = ARGV[a + 1] + 0, tpm = ARGV[a + 2] + 0,\n"               \
"              conc = ARGV[a + 3] + 0, budget = ARGV[a + 4] + 0,\n"           \
"              period = ARGV[a + 5] + 0, base = ARGV[a + 6] + 0,\n"           \
"              na = ARGV[a + 7] + 0, nt = ARGV[a + 8] + 0,\n"                 \
"              nc = ARGV[a + 9] + 0, h = KEYS[2 * j - 1], z = KEYS[2 * j] }\n"\
"end\n"                                                                       \
"local function state(e)\n"                                                   \
"  local s = cache[e.h]\n"                                                    \
"  if s then return s end\n"                                                  \
"  local v = call('HMGET', e.h, 'm', 'rc', 'rp', 'tc', 'tp', 'pd', 'sp')\n"   \
"  s = { h = e.h, z = e.z, exists = v[1] and true or false,\n"                \
"        m = tonumber(v[1]) or 0, rc = tonumber(v[2]) or 0,\n"                \
"        rp = tonumber(v[3]) or 0, tc = tonumber(v[4]) or 0,\n"               \
"        tp = tonumber(v[5]) or 0, pd = tonumber(v[6]) or 0,\n"               \
"        sp = tonumber(v[7]) or 0, full = false, dirty = false, l = false,\n" \
"        cz = false, czdirty = false, purged = false, own = 0, cn = 0 }\n"    \
"  if not (v[1] and v[2] and v[3] and v[4] and v[5] and v[6] and v[7]) then\n"\
"    s.full = true\n"                                                         \
"  end\n"                                                                     \
"  cache[e.h] = s\n"                                                          \
"  order[#order + 1] = s\n"                                                   \
"  return s\n"                                                                \
"end\n"                                                                       \
"local function cstate(s, e)\n"                                               \
"  if s.cz then return end\n"                                                 \
"  local v = call('HMGET', e.z, 'n', wid)\n"                                  \
"  local own = 0\n"                                                           \
"  if v[2] then own = tonumber(match(v[2], '^%d+')) or 0 end\n"               \
"  s.cz = true\n"                                                             \
"  s.own = e.base\n"                                                          \
"  s.cn = (tonumber(v[1]) or 0) - own + e.base\n"                             \
"  if s.cn < s.own then s.cn = s.own end\n"                                   \
"  if own ~= e.base or e.base > 0 then s.czdirty = true end\n"                \
"end\n"                                                                       \
"local function purge(s)\n"                                                   \
"  if s.purged then return end\n"                                             \
"  s.purged = true\n"                                                         \
"  local v = call('HGETALL', s.z)\n"                                          \
"  local sum, del = s.own, {}\n"                                              \
"  for i = 1, #v, 2 do\n"                                                     \
"    local f = v[i]\n"                                                        \
"    if f ~= 'n' and f ~= wid then\n"                                         \
"      local c, x = match(v[i + 1], '^(%d+) (%d+)$')\n"                       \
"      if c and x + 0 > now then sum = sum + c\n"                             \
"      else del[#del + 1] = f end\n"                                          \
"    end\n"                                                                   \
"  end\n"                                                                     \
"  if #del > 0 then call('HDEL', s.z, unpack(del)) end\n"                     \
"  s.cn = sum\n"                                                              \
"  s.czdirty = true\n"                                                        \
"end\n"                                                                       \
"local function roll(s, e)\n"                                                 \
"  if s.m ~= minute then\n"                                                   \
"    if s.m + 1 == minute then s.rp = s.rc; s.tp = s.tc\n"                    \
"    else s.rp = 0; s.tp = 0 end\n"                                           \
"    s.rc = 0; s.tc = 0; s.m = minute; s.full = true\n"                       \
"  end\n"                                                                     \
"  if e.budget >= 0 then\n"                                                   \
"    local p, pid = e.period, 0\n"                                            \
"    if p == 1 then\n"                                                        \
"      day = day or floor(now / 86400000)\n"                                  \
"      pid = day\n"                                                           \
"    elseif p == 2 then\n"                                                    \
"      if not month then\n"                                                   \
"        local y, mo = civil(floor(now / 86400000))\n"                        \
"        month = y * 12 + mo - 1\n"                                           \
"      end\n"                                                                 \
"      pid = month\n"                                                         \
"    end\n"                                                                   \
"    if s.pd ~= pid then s.pd = pid; s.sp = 0; s.full = true end\n"           \
"  end\n"                                                                     \
"end\n"                                                                       \
"local function used(p, c)\n"                                                 \
"  local x = p * (M - ms) + M - 1\n"                                          \
"  local u = floor(x / M)\n"                                                  \
"  if u * M > x then u = u - 1\n"                                             \
"  elseif (u + 1) * M <= x then u = u + 1 end\n"                              \
"  return u + c\n"                                                            \
"end\n"                                                                       \
"local function settle(j, m, pd, td, cd)\n"                                   \
"  local s = state(subs[j])\n"                                                \
"  if not s.exists then return end\n"                                         \
"  if td ~= 0 then\n"                                                         \
"    if s.m == m then\n"                                                      \
"      s.tc = s.tc + td\n"                                                    \
"      if s.tc < 0 then s.tc = 0 end\n"                                       \
"      s.dirty = true\n"                                                      \
"    elseif s.m == m + 1 then\n"                                              \
"      s.tp = s.tp + td\n"                                                    \
"      if s.tp < 0 then s.tp = 0 end\n"                                       \
"      s.dirty = true\n"                                                      \
"    end\n"                                                                   \
"  end\n"                                                                     \
"  if cd ~= 0 and s.pd == pd then\n"                                          \
"    s.sp = s.sp + cd\n"                                                      \
"    if s.sp < 0 then s.sp = 0 end\n"                                         \
"    s.dirty = true\n"                                                        \
"  end\n"                                                                     \
"end\n"                                                                       \
"local function fast()\n"                                                     \
"  local seen = {}\n"                                                         \
"  for j = 1, ns do\n"                                                        \
"    local e = subs[j]\n"                                                     \
"    if e.na > 0 then\n"                                                      \
"      if seen[e.h] then return false end\n"                                  \
"      seen[e.h] = true\n"                                                    \
"      local s = state(e)\n"                                                  \
"      roll(s, e)\n"                                                          \
"      e.ur = used(s.rp, s.rc)\n"                                             \
"      e.ut = used(s.tp, s.tc)\n"                                             \
"      if e.rpm > 0 and e.ur + e.na > e.rpm then return false end\n"          \
"      if e.tpm > 0 and e.ut + e.nt > e.tpm then return false end\n"          \
"      if e.conc > 0 and s.cn + e.na > e.conc then\n"                         \
"        purge(s)\n"                                                          \
"        if s.cn + e.na > e.conc then return false end\n"                     \
"      end\n"                                                                 \
"      if e.budget >= 0 and s.sp + e.nc > e.budget then return false end\n"   \
"    end\n"                                                                   \
"  end\n"                                                                     \
"  local out = { 0, minute, ms, fails }\n"                                    \
"  for j = 1, ns do\n"                                                        \
"    local e = subs[j]\n"                                                     \
"    local k = 4 + 5 * (j - 1)\n"                                             \
"    if e.na > 0 then\n"                                                      \
"      local s = cache[e.h]\n"                                                \
"      out[k + 1] = s.pd; out[k + 2] = e.ur; out[k + 3] = e.ut\n"             \
"      out[k + 4] = s.tc; out[k + 5] = s.tp\n"                                \
"      s.rc = s.rc + e.na; s.tc = s.tc + e.nt; s.sp = s.sp + e.nc\n"          \
"      s.dirty = true; s.exists = true; s.l = e\n"                            \
"      if e.conc > 0 then\n"                                                  \
"        s.own = s.own + e.na; s.cn = s.cn + e.na; s.czdirty = true\n"        \
"      end\n"                                                                 \
"    else\n"                                                                  \
"      out[k + 1] = 0; out[k + 2] = 0; out[k + 3] = 0; out[k + 4] = 0\n"      \
"      out[k + 5] = 0\n"                                                      \
"    end\n"                                                                   \
"  end\n"                                                                     \
"  return spack('<' .. string.rep('i8', 4 + 5 * ns), unpack(out))\n"          \
"end\n"                                                                       \
"local rfmt = {}\n"                                                           \
"local function admit(tokens, cost, js, n)\n"                                 \
"  local kind, index, retry = 0, 0, 0\n"                                      \
"  local res = { 0, 0, 0, minute }\n"                                         \
"  for i = 1, n do\n"                                                         \
"    local e = subs[js[i]]\n"                                                 \
"    local rpm, tpm, conc, budget = e.rpm, e.tpm, e.conc, e.budget\n"         \
"    local s = state(e)\n"                                                    \
"    js[n + i] = s\n"                                                         \
"    roll(s, e)\n"                                                            \
"    local rc, rp, tc, tp = s.rc, s.rp, s.tc, s.tp\n"                         \
"    local r, ra = 0, 0\n"                                                    \
"    local rr, rsr, rt, rst = -1, -1, -1, -1\n"                               \
"    if rpm > 0 then\n"                                                       \
"      local u = used(rp, rc)\n"                                              \
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
"      local u = used(tp, tc)\n"                                              \
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
"    if r == 0 and conc > 0 and s.cn + 1 > conc then\n"                       \
"      purge(s)\n"                                                            \
"      if s.cn + 1 > conc then\n"                                             \
"        r = 3\n"                                                             \
"        ra = 1000\n"                                                         \
"      end\n"                                                                 \
"    end\n"                                                                   \
"    if r == 0 and budget >= 0 and s.sp + cost > budget then\n"               \
"      r = 4\n"                                                               \
"      ra = reset_ms(e.period, now)\n"                                        \
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
"      local e, s = subs[js[i]], js[n + i]\n"                                 \
"      s.rc = s.rc + 1; s.tc = s.tc + tokens; s.sp = s.sp + cost\n"           \
"      s.dirty = true; s.exists = true; s.l = e\n"                            \
"      if e.conc > 0 then\n"                                                  \
"        s.own = s.own + 1; s.cn = s.cn + 1; s.czdirty = true\n"              \
"      end\n"                                                                 \
"    end\n"                                                                   \
"  end\n"                                                                     \
"  res[1] = kind; res[2] = index; res[3] = retry\n"                           \
"  local f = rfmt[n]\n"                                                       \
"  if not f then\n"                                                           \
"    f = '<' .. string.rep('i8', 4 + 5 * n)\n"                                \
"    rfmt[n] = f\n"                                                           \
"  end\n"                                                                     \
"  return spack(f, unpack(res))\n"                                            \
"end\n"                                                                       \
"local blob, pos = ARGV[5 + 9 * ns], 1\n"                                     \
"while pos <= #blob do\n"                                                     \
"  local j, m, pd, td, cd\n"                                                  \
"  j, m, pd, td, cd, pos = sunpack('<Hi8i8i8i8', blob, pos)\n"                \
"  if not pcall(settle, j, m, pd, td, cd) then fails = fails + 1 end\n"       \
"end\n"                                                                       \
"for j = 1, ns do\n"                                                          \
"  local e = subs[j]\n"                                                       \
"  if e.conc > 0 then\n"                                                      \
"    local s = state(e)\n"                                                    \
"    cstate(s, e)\n"                                                          \
"  end\n"                                                                     \
"end\n"                                                                       \
"local ok, out = pcall(fast)\n"                                               \
"if not (ok and out) then\n"                                                  \
"  out = { spack('<i8i8i8i8', 1, minute, ms, fails) }\n"                      \
"  blob, pos = ARGV[6 + 9 * ns], 1\n"                                         \
"  while pos <= #blob do\n"                                                   \
"    local n, tokens, cost, r\n"                                              \
"    local js = {}\n"                                                         \
"    n, tokens, cost, pos = sunpack('<Bi8i8', blob, pos)\n"                   \
"    for i = 1, n do js[i], pos = sunpack('<H', blob, pos) end\n"             \
"    ok, r = pcall(admit, tokens, cost, js, n)\n"                             \
"    if ok then\n"                                                            \
"      out[#out + 1] = r\n"                                                   \
"    else\n"                                                                  \
"      out[#out + 1] = { err = type(r) == 'table' and r.err or tostring(r) }\n"\
"    end\n"                                                                   \
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
"      if l.budget < 0 then\n"                                                \
"        call('PEXPIRE', s.h, 180000)\n"                                      \
"      elseif l.period == 1 or l.period == 2 then\n"                          \
"        call('PEXPIRE', s.h, fmt('%d', reset_ms(l.period, now) + 86400000))\n"\
"      else\n"                                                                \
"        call('PERSIST', s.h)\n"                                              \
"      end\n"                                                                 \
"    end\n"                                                                   \
"  end\n"                                                                     \
"  if s.czdirty then\n"                                                       \
"    if s.cn <= 0 then\n"                                                     \
"      call('DEL', s.z)\n"                                                    \
"    else\n"                                                                  \
"      if s.own > 0 then\n"                                                   \
"        call('HSET', s.z, 'n', fmt('%d', s.cn), wid,\n"                      \
"             fmt('%d %d', s.own, now + life))\n"                             \
"        call('PEXPIRE', s.z, fmt('%d', life + 1000))\n"                      \
"      else\n"                                                                \
"        call('HSET', s.z, 'n', fmt('%d', s.cn))\n"                           \
"        call('HDEL', s.z, wid)\n"                                            \
"      end\n"                                                                 \
"    end\n"                                                                   \
"  end\n"                                                                     \
"end\n"                                                                       \
"return out\n"


#endif /* _NGX_HTTP_AIGW_REDIS_SCRIPTS_H_INCLUDED_ */

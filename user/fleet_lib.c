// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * fleet_lib.c: the Redis 7 function library the fleet calls (FUNCTION LOAD REPLACE on
 * every connect: functions are replicated and persisted, so they survive a failover, and
 * loading again after one costs nothing). Every step that must be atomic across relays
 * runs inside Redis as one function call:
 *
 *   rg_budget   KEYS win state gen events  ARGV tenant txn now_ms window_ms limit relay
 *               maxlen until_ms
 *     The fleet-wide budget: a transaction id already in the tenant's window is a replay
 *     (answered as before, never counted twice); else the window is trimmed and counted,
 *     and the (limit+1)-th sets the restriction with a new generation and appends it to
 *     the stream. Reply {status, count, gen, id}: 0 passed, 1 this one restricted the
 *     tenant, 2 the tenant was restricted already.
 *   rg_publish  KEYS state gen events win  ARGV obj gen keep json maxlen now_ms
 *     A restriction, lift or kernel verdict made on one relay. gen 0: made online, takes
 *     max(stored + 1, now_ms << 8); else the generation it was made with offline, which
 *     loses (reply {0}) against a newer one stored: an operator unblock beats an older
 *     block replayed after an outage. keep 1 stores the object in the state hash, 0
 *     removes it (a lift also clears the tenant's window: a fresh budget fleet-wide).
 *     Reply {1, gen, id}.
 *   rg_snapshot KEYS state events  ARGV last_id
 *     {id, [obj, json]...}: the stream id the state hash is consistent with and the
 *     state; or {"follow"} when last_id is still in the stream (the stream does not start
 *     after it: XTRIM leaves max-deleted-entry-id alone, the first entry's id tells), so
 *     the relay reads on from there. A last entry trimmed with nothing after it costs
 *     one needless snapshot, never a missed event.
 *
 * Events (stream field "e", state hash values) are JSON objects; numbers that do not fit
 * a double exactly (generations) are strings.
 */
#include "fleet_lib.h"

const char rg_fleet_library[] =
"#!lua name=relayguard\n"
"local function hlc(genkey, obj, now, want)\n"
"  local g = tonumber(redis.call('HGET', genkey, obj) or '0')\n"
"  local n = want\n"
"  if n == 0 then\n"
"    n = now * 256\n"
"    if n <= g then n = g + 1 end\n"
"  elseif n <= g then\n"
"    return nil, g\n"
"  end\n"
"  redis.call('HSET', genkey, obj, string.format('%.0f', n))\n"
"  return n, g\n"
"end\n"
"local function emit(state, events, obj, ev, keep, maxlen)\n"
"  local j = cjson.encode(ev)\n"
"  local id = redis.call('XADD', events, 'MAXLEN', '~', maxlen, '*', 'e', j)\n"
"  if keep then redis.call('HSET', state, obj, j) else redis.call('HDEL', state, obj) end\n"
"  return id\n"
"end\n"
"local function budget(keys, args)\n"
"  local win, state, gen, events = keys[1], keys[2], keys[3], keys[4]\n"
"  local tenant, txn, now = args[1], args[2], tonumber(args[3])\n"
"  local window, limit, relay = tonumber(args[4]), tonumber(args[5]), args[6]\n"
"  local obj = 'tenant:' .. tenant\n"
"  if redis.call('ZSCORE', win, txn) then return {0, redis.call('ZCARD', win), '', ''} end\n"
"  if redis.call('HEXISTS', state, obj) == 1 then return {2, 0, '', ''} end\n"
"  redis.call('ZREMRANGEBYSCORE', win, '-inf', now - window)\n"
"  local n = redis.call('ZCARD', win)\n"
"  if n < limit then\n"
"    redis.call('ZADD', win, now, txn)\n"
"    redis.call('PEXPIRE', win, window)\n"
"    return {0, n + 1, '', ''}\n"
"  end\n"
"  local g = hlc(gen, obj, now, 0)\n"
"  local ev = { t = 'restrict', tenant = tenant, reason = 'limit', at = args[3],\n"
"               ['until'] = args[8], gen = string.format('%.0f', g), relay = relay,\n"
"               txn = txn }\n"
"  local id = emit(state, events, obj, ev, true, args[7])\n"
"  return {1, n, ev.gen, id}\n"
"end\n"
"local function publish(keys, args)\n"
"  local state, gen, events, win = keys[1], keys[2], keys[3], keys[4]\n"
"  local obj, want, keep = args[1], tonumber(args[2]), args[3] == '1'\n"
"  local g, old = hlc(gen, obj, tonumber(args[6]), want)\n"
"  if not g then return {0, string.format('%.0f', old), ''} end\n"
"  local ev = cjson.decode(args[4])\n"
"  ev.gen = string.format('%.0f', g)\n"
"  if ev.t == 'lift' then redis.call('DEL', win) end\n"
"  local id = emit(state, events, obj, ev, keep, args[5])\n"
"  return {1, ev.gen, id}\n"
"end\n"
"local function idlt(a, b)\n"
"  local am, as = string.match(a, '^(%d+)-(%d+)$')\n"
"  local bm, bs = string.match(b, '^(%d+)-(%d+)$')\n"
"  if not am or not bm then return true end\n"
"  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)\n"
"  return am < bm or (am == bm and as < bs)\n"
"end\n"
"local function snapshot(keys, args)\n"
"  local state, events, last = keys[1], keys[2], args[1]\n"
"  local info = redis.pcall('XINFO', 'STREAM', events)\n"
"  local top, first, len = '0-0', '0-0', 0\n"
"  if type(info) == 'table' and not info.err then\n"
"    for i = 1, #info, 2 do\n"
"      if info[i] == 'last-generated-id' then top = info[i + 1] end\n"
"      if info[i] == 'recorded-first-entry-id' then first = info[i + 1] end\n"
"      if info[i] == 'length' then len = info[i + 1] end\n"
"    end\n"
"  end\n"
"  -- Trimmed past last: the stream now starts after it (or is empty and went on).\n"
"  local gap = idlt(top, last) or (len == 0 and idlt(last, top)) or\n"
"              (len > 0 and idlt(last, first))\n"
"  if last ~= '' and not gap then return {'follow'} end\n"
"  local out = {top}\n"
"  local all = redis.call('HGETALL', state)\n"
"  for i = 1, #all do out[#out + 1] = all[i] end\n"
"  return out\n"
"end\n"
"redis.register_function('rg_budget', budget)\n"
"redis.register_function('rg_publish', publish)\n"
"redis.register_function{function_name = 'rg_snapshot', callback = snapshot,\n"
"                        flags = {'no-writes'}}\n";

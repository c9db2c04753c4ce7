"""Lua source that turns a fresh lupa Lua 5.1 state into Redis 7.0's sandbox.

Redis patches its Lua VM with read-only tables. Stock Lua (lupa) has none,
so the same effect is built from proxies: user code only ever sees empty
tables whose metatables forward reads to the real table and refuse writes
with Redis's own message. The globals the user sees (``_G``) are such a
proxy, set as the environment of every chunk compiled for a user (scripts,
library bodies, ``loadstring``/``load`` results). ``rawset``, ``rawget``,
``next``, ``pairs``, ``getmetatable``, ``setmetatable``, ``table.insert`` and
``table.remove`` are wrapped to see through (or refuse) proxies.

Internal code is compiled with the chunk name ``=aki``; the error handler
skips those frames so positions point at the user's line, as they do in
Redis where the same functions are C. The chunk receives ``(py, mode)``:
``py`` is a table of Python callbacks, ``mode`` is ``"eval"`` or
``"function"``; it returns a table of entry points used by ``engine.py``.
"""

SANDBOX_SOURCE = r"""
local py, mode = ...
local R = _G
local INTERNAL = '=aki'

local type, tostring, tonumber, select, error = type, tostring, tonumber, select, error
local pcall, xpcall, next, rawget, rawset, rawequal = pcall, xpcall, next, rawget, rawset, rawequal
local setmetatable, getmetatable, unpack, loadstring, load = setmetatable, getmetatable, unpack, loadstring, load
local setfenv, collectgarbage = setfenv, collectgarbage
local string, table, math, coroutine, debug = string, table, math, coroutine, debug
local sformat, sbyte, ssub, sfind, smatch, slower = string.format, string.byte, string.sub, string.find, string.match, string.lower
local tconcat, tinsert, tremove = table.concat, table.insert, table.remove
local floor = math.floor
local getinfo, sethook, dgetmetatable = debug.getinfo, debug.sethook, debug.getmetatable
local co_create, co_wrap = coroutine.create, coroutine.wrap

local api = {}

local function trunc(x)
  if x ~= x then return x end
  if x >= 0 then return floor(x) end
  return -floor(-x)
end

local function typename(n, i, v)
  if i > n then return 'no value' end
  return type(v)
end

-- luaL_argerror for functions written in Lua: the name is the one the caller
-- used ('?' when called through pcall), exactly as for Redis's C functions.
-- depth: 1 when called by the library function itself, 2 through one helper...
local function argerror(depth, narg, extramsg)
  local ar = getinfo(depth + 1, 'n')
  local name = ar and ar.name
  if ar and ar.namewhat == 'method' then
    narg = narg - 1
    if narg == 0 then
      error(sformat("calling '%s' on bad self (%s)", name, extramsg), depth + 2)
    end
  end
  error(sformat("bad argument #%d to '%s' (%s)", narg, name or '?', extramsg), depth + 2)
end

-- luaPushErrorBuff: '-CODE msg' or 'msg' -> {err = 'CODE msg'} (C strings: NUL ends them)
local function errbuf(s)
  s = smatch(s, '^[^%z]*')
  local code, msg
  if sbyte(s, 1) == 45 then
    local sp = sfind(s, ' ', 1, true)
    if sp then code, msg = ssub(s, 2, sp - 1), ssub(s, sp + 1)
    else code, msg = 'ERR', ssub(s, 2) end
  else
    code, msg = 'ERR', s
  end
  msg = smatch(msg, '^[\r\n]*(.-)[\r\n]*$')
  return {err = code .. ' ' .. msg}
end

local function raise(msg) error(errbuf(msg)) end

------------------------------------------------------------------------------
-- Globals: keep exactly what Redis 7.0 exposes.
------------------------------------------------------------------------------
local KEEP = {
  _G = true, _VERSION = true, assert = true, collectgarbage = true, coroutine = true,
  error = true, gcinfo = true, getmetatable = true, ipairs = true, load = true,
  loadstring = true, math = true, next = true, pairs = true, pcall = true,
  rawequal = true, rawget = true, rawset = true, select = true, setmetatable = true,
  string = true, table = true, tonumber = true, tostring = true, type = true,
  unpack = true, xpcall = true,
}
local drop = {}
for k in next, R do if not KEEP[k] then drop[#drop + 1] = k end end
for _, k in ipairs(drop) do rawset(R, k, nil) end

------------------------------------------------------------------------------
-- Read-only proxies.
------------------------------------------------------------------------------
local RO = 'Attempt to modify a readonly table'
local real_of = setmetatable({}, {__mode = 'k'})   -- proxy -> real table
local shown_mt = setmetatable({}, {__mode = 'k'})  -- internal metatable -> what getmetatable shows

local function ro_newindex() error(RO, 2) end

local function readonly(real, visible_mt)
  local mt = {__index = real, __newindex = ro_newindex}
  local proxy = setmetatable({}, mt)
  real_of[proxy] = real
  shown_mt[mt] = visible_mt or false
  return proxy, mt
end

local function nonexistent(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
local STRICT_MT = {__index = nonexistent}

local function check_table(n, i, v)
  if type(v) ~= 'table' then argerror(2, i, 'table expected, got ' .. typename(n, i, v)) end
end
local function check_any(n, i)
  if i > n then argerror(2, i, 'value expected') end
end

R.rawset = function(...)
  local n = select('#', ...)
  local t, k, v = ...
  check_table(n, 1, t)
  check_any(n, 2)
  check_any(n, 3)
  if real_of[t] then error(RO, 0) end
  return rawset(t, k, v)
end

R.rawget = function(...)
  local n = select('#', ...)
  local t, k = ...
  check_table(n, 1, t)
  check_any(n, 2)
  return rawget(real_of[t] or t, k)
end

local function user_next(...)
  local n = select('#', ...)
  local t, k = ...
  check_table(n, 1, t)
  return next(real_of[t] or t, k)
end
R.next = user_next

R.pairs = function(...)
  local n = select('#', ...)
  local t = ...
  check_table(n, 1, t)
  return user_next, t, nil
end

R.getmetatable = function(...)
  local n = select('#', ...)
  check_any(n, 1)
  local mt = getmetatable((...))
  if mt ~= nil then
    local shown = shown_mt[mt]
    if shown ~= nil then return shown or nil end
  end
  return mt
end

R.setmetatable = function(...)
  local n = select('#', ...)
  local t, mt = ...
  check_table(n, 1, t)
  local tm = type(mt)
  if tm ~= 'nil' and tm ~= 'table' then argerror(1, 2, 'nil or table expected') end
  local cur = dgetmetatable(t)
  if cur ~= nil and rawget(cur, '__metatable') ~= nil then
    error('cannot change a protected metatable', 2)
  end
  if real_of[t] then error(RO, 0) end
  return setmetatable(t, mt)
end

table.insert = function(t, ...)
  if real_of[t] then error(RO, 0) end
  return tinsert(t, ...)
end
table.remove = function(t, ...)
  local real = real_of[t]
  if real then
    if #real == 0 then return end  -- nothing to remove: Redis does not write either
    error(RO, 0)
  end
  return tremove(t, ...)
end

-- Redis parses every chunk as text: a binary chunk is a syntax error.
local function as_text(s)
  if type(s) == 'string' and sbyte(s, 1) == 27 then return ' ' .. s end
  return s
end
local env  -- the globals user code sees (a read-only proxy of R), set below
local sdump, patch_tail_calls = string.dump, py.patch

-- Every chunk compiled for a user: keep caller frames (bytecode.py), then sandbox it.
local function finalize(f)
  local patched = patch_tail_calls(sdump(f))
  if patched then f = loadstring(patched, INTERNAL) end
  setfenv(f, env)
  return f
end
local function in_env(f, ...)
  if f then return finalize(f), ... end
  return f, ...
end
R.loadstring = function(s, chunkname)
  if chunkname == nil and type(s) == 'string' then chunkname = s end
  return in_env(loadstring(as_text(s), chunkname))
end
R.load = function(reader, chunkname)
  if type(reader) ~= 'function' then return in_env(load(reader, chunkname)) end
  local first = true
  return in_env(load(function()
    local piece = reader()
    if first and piece ~= nil and piece ~= '' then
      first = false
      return as_text(piece)
    end
    return piece
  end, chunkname))
end

-- Redis 7's pcall hands back the message of an {err=...} table, not the table.
local function pcall_result(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if type(e) == 'table' then
    local m = e.err
    local tm = type(m)
    if tm == 'string' or tm == 'number' then return false, m end
  end
  return false, e
end
R.pcall = function(...) return pcall_result(pcall(...)) end

------------------------------------------------------------------------------
-- Script timeout hook (Redis: a count hook every 100000 instructions).
------------------------------------------------------------------------------
-- Like Redis (whose libraries are C), only user code is ever interrupted: a
-- kill noticed inside an internal function (or the runner itself) takes
-- effect at the next line of user code.
local interrupt = py.interrupt
local abort_msg
local function in_user_code() return getinfo(3, 'S').source ~= INTERNAL end
local function abort_hook()
  if in_user_code() then error({err = abort_msg}) end
end
local function count_hook()
  local msg = interrupt()
  if msg then
    abort_msg = msg
    sethook(abort_hook, 'l')  -- every line from now on: pcall cannot swallow the kill
    if in_user_code() then error({err = msg}) end
  end
end
local function hook_on() sethook(count_hook, '', 100000) end
local function hook_off() sethook() end

local function hooked(f)
  return function(...)
    hook_on()
    return f(...)
  end
end
local function check_lua_function(f)
  if type(f) ~= 'function' or getinfo(f, 'S').what == 'C' then argerror(2, 1, 'Lua function expected') end
end
coroutine.create = function(f)
  check_lua_function(f)
  local co = co_create(hooked(f))
  return co
end
coroutine.wrap = function(f)
  check_lua_function(f)
  local w = co_wrap(hooked(f))
  return w
end

------------------------------------------------------------------------------
-- math.random / math.randomseed: Redis's rand48, shared by every script.
------------------------------------------------------------------------------
local running = false
local pyrand, pyseed = py.rand, py.seed

local function rand_arg(n, i, v)
  local x = tonumber(v)
  if x == nil then argerror(2, i, 'number expected, got ' .. typename(n, i, v)) end
  return trunc(x)
end
math.random = function(...)
  if not running then error('math.random can only be called inside a script invocation', 2) end
  local r = pyrand()
  local n = select('#', ...)
  if n == 0 then return r end
  local a, b = ...
  if n == 1 then
    local u = rand_arg(n, 1, a)
    if not (1 <= u) then argerror(1, 1, 'interval is empty') end
    return floor(r * u) + 1
  elseif n == 2 then
    local l = rand_arg(n, 1, a)
    local u = rand_arg(n, 2, b)
    if not (l <= u) then argerror(1, 2, 'interval is empty') end
    return floor(r * (u - l + 1)) + l
  end
  error('wrong number of arguments', 2)
end
math.randomseed = function(...)
  if not running then error('math.randomseed can only be called inside a script invocation', 2) end
  local n = select('#', ...)
  local x = tonumber((...))
  if x == nil then argerror(1, 1, 'number expected, got ' .. typename(n, 1, (...))) end
  pyseed(trunc(x))
end

------------------------------------------------------------------------------
-- Libraries: bit, struct (Python cores), cjson, cmsgpack (Lua sources).
------------------------------------------------------------------------------
local function bit_arg(n, i, v)
  local x = tonumber(v)
  if x == nil then argerror(2, i, 'number expected, got ' .. typename(n, i, v)) end
  return x
end
local bit = {}
for _, name in ipairs({'tobit', 'bnot', 'bswap'}) do
  local f = py.bit[name]
  bit[name] = function(...) return f(bit_arg(select('#', ...), 1, (...))) end
end
for _, name in ipairs({'band', 'bor', 'bxor'}) do
  local f = py.bit[name]
  bit[name] = function(...)
    local n = select('#', ...)
    local a = {...}
    a[1] = bit_arg(n, 1, a[1])
    for i = n, 2, -1 do a[i] = bit_arg(n, i, a[i]) end
    return f(unpack(a, 1, n > 0 and n or 1))
  end
end
for _, name in ipairs({'lshift', 'rshift', 'arshift', 'rol', 'ror'}) do
  local f = py.bit[name]
  bit[name] = function(...)
    local n = select('#', ...)
    local x, s = ...
    return f(bit_arg(n, 1, x), bit_arg(n, 2, s))
  end
end
do
  local f = py.bit.tohex
  bit.tohex = function(...)
    local n = select('#', ...)
    local x, d = ...
    x = bit_arg(n, 1, x)
    if n < 2 then return f(x) end
    return f(x, bit_arg(n, 2, d))
  end
end

local function results(...) return {n = select('#', ...), ...} end
local struct = {}
for _, name in ipairs({'pack', 'unpack', 'size'}) do
  local f = py.struct[name]
  struct[name] = function(...)
    local r = results(f(select('#', ...), ...))
    if r[1] then return unpack(r, 2, r.n) end
    if r[3] then argerror(1, r[3], r[2]) end
    error(r[2], 2)
  end
end

-- cjson.null: Redis uses a NULL lightuserdata; here a userdata that prints like one.
local null = py.null
local null_mt = dgetmetatable(null)
null_mt.__tostring = function() return 'userdata: (nil)' end
shown_mt[null_mt] = false
local cjson = loadstring(py.cjson_source, INTERNAL)(null, argerror)
local cmsgpack = loadstring(py.cmsgpack_source, INTERNAL)(py.msgpack, argerror)

------------------------------------------------------------------------------
-- The redis table.
------------------------------------------------------------------------------
local pycall, pycallv, pylog, pyrepl, pysha1, pyacl, pyregister = py.call, py.callv, py.log, py.set_repl, py.sha1hex, py.acl_check, py.register
-- Up to this many arguments travel to Python as arguments (each arrives as bytes);
-- more go as one table, which stays within unpack's and the C stack's limits.
local CALLV_MAX = 32
local script_resp = 2
local build  -- defined below: Python reply tokens -> Lua value

-- Converts in place: args is a fresh {...} table owned by the caller.
local function argv_of(n, args)
  if n == 0 then return nil, 'Please specify at least one argument for this redis lib call' end
  for i = 1, n do
    local v = args[i]
    local tv = type(v)
    if tv == 'number' then args[i] = sformat('%.17g', v)
    elseif tv ~= 'string' then return nil, 'Lua redis lib command arguments must be strings or integers' end
  end
  return args
end

local function redis_command(raise_error, ...)
  if not running then raise('redis.call/pcall can only be called inside a script invocation') end
  local n = select('#', ...)
  local argv, problem = argv_of(n, {...})
  if not argv then
    local t = errbuf(problem)
    if raise_error then error(t) end
    return t
  end
  local status, value
  if n <= CALLV_MAX then
    status, value = pycallv(script_resp, unpack(argv, 1, n))
  else
    status, value = pycall(argv, script_resp)
  end
  if status == 0 then return value end
  if status == 4 then return {ok = value} end
  if status == 1 then return build(value) end
  local t = errbuf(value)
  t.ignore_error_stats_update = true
  if raise_error then error(t) end
  return t
end

local redis = {}
redis.call = function(...) return redis_command(true, ...) end
redis.pcall = function(...) return redis_command(false, ...) end

local function log_command(...)
  local n = select('#', ...)
  if n < 2 then raise('redis.log() requires two arguments or more.') end
  local args = {...}
  if tonumber(args[1]) == nil then raise('First argument must be a number (log level).') end
  local level = trunc(tonumber(args[1]))
  if not (level >= 0 and level <= 3) then raise('Invalid debug level.') end
  local parts = {}
  for j = 2, n do
    local v = args[j]
    local tv = type(v)
    if tv == 'string' or tv == 'number' then
      if tv == 'number' then v = tostring(v) end
      if j ~= 2 then v = ' ' .. v end
      parts[#parts + 1] = v
    end
  end
  pylog(level, tconcat(parts))
end
redis.log = log_command
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REDIS_VERSION = '7.0.15'
redis.REDIS_VERSION_NUM = 458767

redis.setresp = function(...)
  if not running then raise('redis.setresp can only be called inside a script invocation') end
  if select('#', ...) ~= 1 then raise('redis.setresp() requires one argument.') end
  local r = trunc(tonumber((...)) or 0)
  if r ~= 2 and r ~= 3 then raise('RESP version must be 2 or 3.') end
  script_resp = r
end

redis.sha1hex = function(...)
  if select('#', ...) ~= 1 then raise('wrong number of arguments') end
  local s = ...
  local ts = type(s)
  if ts == 'number' then s = tostring(s) elseif ts ~= 'string' then s = '' end
  return pysha1(s)
end

redis.error_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then return errbuf('wrong number or type of arguments') end
  s = smatch(s, '^[^%z]*')
  if sbyte(s, 1) ~= 45 then s = '-' .. s end
  return errbuf(s)
end

redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then return errbuf('wrong number or type of arguments') end
  return {ok = s}
end

redis.set_repl = function(...)
  if not running then raise('redis.set_repl can only be called inside a script invocation') end
  if select('#', ...) ~= 1 then raise('redis.set_repl() requires two arguments.') end
  local flags = trunc(tonumber((...)) or 0)
  if flags ~= 0 and flags ~= 1 and flags ~= 2 and flags ~= 3 then
    raise('Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.')
  end
  pyrepl(flags)
end
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3

redis.acl_check_cmd = function(...)
  if not running then raise('redis.acl_check_cmd can only be called inside a script invocation') end
  local argv, problem = argv_of(select('#', ...), {...})
  if not argv then raise(problem) end
  local allowed = pyacl(argv)
  if allowed == nil then raise('Invalid command passed to redis.acl_check_cmd()') end
  return allowed
end

if mode == 'eval' then
  redis.breakpoint = function() return false end
  redis.debug = function() end
  redis.replicate_commands = function() return true end
end

------------------------------------------------------------------------------
-- Redis reply tokens (from Python) -> Lua values.
------------------------------------------------------------------------------
build = function(tk)
  local pos = 1
  local value
  value = function()
    local op = tk[pos]
    if op == 0 then pos = pos + 2; return tk[pos - 1] end
    if op == 2 then pos = pos + 1; return false end
    if op == 3 then pos = pos + 1; return nil end
    if op == 4 then pos = pos + 2; return {ok = tk[pos - 1]} end
    if op == 5 then
      pos = pos + 2
      local t = errbuf(tk[pos - 1])
      t.ignore_error_stats_update = true
      return t
    end
    if op == 6 then
      local n = tk[pos + 1]
      pos = pos + 2
      local t = {}
      for i = 1, n do
        local v = value()
        if v ~= nil then t[i] = v end
      end
      return t
    end
    if op == 7 then
      local n = tk[pos + 1]
      pos = pos + 2
      local m = {}
      for _ = 1, n do
        local k = value()
        local v = value()
        if k ~= nil then m[k] = v end
      end
      return {map = m}
    end
    if op == 8 then
      local n = tk[pos + 1]
      pos = pos + 2
      local m = {}
      for _ = 1, n do
        local k = value()
        if k ~= nil then m[k] = true end
      end
      return {set = m}
    end
    if op == 9 then pos = pos + 2; return {double = tk[pos - 1]} end
    if op == 10 then pos = pos + 1; return true end
    if op == 11 then pos = pos + 1; return false end
    if op == 12 then pos = pos + 2; return {big_number = tk[pos - 1]} end
    if op == 13 then
      pos = pos + 3
      return {verbatim_string = {format = tk[pos - 2], string = tk[pos - 1]}}
    end
    error('bad reply token ' .. tostring(op))
  end
  return value()
end

------------------------------------------------------------------------------
-- Lua value -> reply tokens for Python (luaReplyToRedisReply).
------------------------------------------------------------------------------
local STACK_MAX = 8000  -- LUAI_MAXCSTACK: where Redis answers "reached lua stack limit"

local flatten
flatten = function(v, out, slots)
  local t = type(v)
  local n = #out
  if slots + 4 > STACK_MAX then out[n + 1] = 'e'; out[n + 2] = 'ERR reached lua stack limit'; return end
  if t == 'string' then out[n + 1] = 'b'; out[n + 2] = v; return end
  if t == 'number' then out[n + 1] = 'i'; out[n + 2] = v; return end
  if t == 'boolean' then
    if script_resp == 2 then
      if v then out[n + 1] = 'i'; out[n + 2] = 1 else out[n + 1] = 'n' end
    else
      out[n + 1] = v and 't' or 'f'
    end
    return
  end
  if t ~= 'table' then out[n + 1] = 'n'; return end
  local f = rawget(v, 'err')
  if type(f) == 'string' then out[n + 1] = 'e'; out[n + 2] = f; return end
  f = rawget(v, 'ok')
  if type(f) == 'string' then out[n + 1] = 's'; out[n + 2] = f; return end
  f = rawget(v, 'double')
  if type(f) == 'number' then
    out[n + 1] = 'd'
    if f == 0 and 1 / f < 0 then f = '-0' end  -- lupa would hand Python an int 0
    out[n + 2] = f
    return
  end
  f = rawget(v, 'big_number')
  if type(f) == 'string' then out[n + 1] = 'g'; out[n + 2] = f; return end
  f = rawget(v, 'verbatim_string')
  if type(f) == 'table' then
    local fmt, str = rawget(f, 'format'), rawget(f, 'string')
    if type(fmt) == 'string' and type(str) == 'string' then
      out[n + 1] = 'v'; out[n + 2] = fmt; out[n + 3] = str
      return
    end
  end
  f = rawget(v, 'map')
  if type(f) == 'table' then
    out[n + 1] = 'm'; out[n + 2] = 0
    local count = 0
    for k, val in next, f do
      flatten(k, out, slots + 4)
      flatten(val, out, slots + 3)
      count = count + 1
    end
    out[n + 2] = count
    return
  end
  f = rawget(v, 'set')
  if type(f) == 'table' then
    out[n + 1] = 'S'; out[n + 2] = 0
    local count = 0
    for k in next, f do
      flatten(k, out, slots + 3)
      count = count + 1
    end
    out[n + 2] = count
    return
  end
  -- Arrays of strings only (the common case) go as 'B', count, strings...
  local j = 1
  local e = rawget(v, 1)
  while type(e) == 'string' do
    out[n + 2 + j] = e
    j = j + 1
    e = rawget(v, j)
  end
  if e == nil and slots + 5 <= STACK_MAX then
    out[n + 1] = 'B'; out[n + 2] = j - 1
    return
  end
  for k = n + 3, n + 1 + j do out[k] = nil end
  out[n + 1] = 'a'; out[n + 2] = 0
  j = 1
  while true do
    e = rawget(v, j)
    if e == nil then break end
    flatten(e, out, slots + 1)
    j = j + 1
  end
  out[n + 2] = j - 1
end

function api.slice(t, i, j) return unpack(t, i, j) end
function api.memory() return collectgarbage('count') end

------------------------------------------------------------------------------
-- Error handler (Redis's __redis__err__handler), skipping internal frames.
-- It lives in its own chunk, '@err_handler_def', with the table writes on
-- lines 10 and 11 as in Redis: when those writes fail (error(string) hands
-- it a read-only table) Lua re-enters the handler, and the message then
-- names err_handler_def:10 exactly like Redis's.
------------------------------------------------------------------------------
local ERR_HANDLER_SOURCE = [==[local getinfo, INTERNAL = ...
return function(err)
  local level = 2 local i = getinfo(level, 'nSl')
  if i and i.what == 'C' then level = level + 1 i = getinfo(level, 'nSl') end
  while i and (i.source == INTERNAL or i.what == 'tail') do
    level = level + 1 i = getinfo(level, 'nSl')
    if i and i.what == 'C' then level = level + 1 i = getinfo(level, 'nSl') end end
  if type(err) ~= 'table' then
    err = {err = 'ERR ' .. tostring(err)} end if i then
    err['source'] = i.source
    err['line'] = i.currentline
  end return err
end
]==]
local err_handler = loadstring(ERR_HANDLER_SOURCE, '@err_handler_def')(getinfo, INTERNAL)

local function tostr(v)
  local tv = type(v)
  if tv == 'string' then return v end
  if tv == 'number' then return tostring(v) end
  return nil
end

-- Returns: true, count, ignore_stats, tokens... (small replies) | true, count, ignore_stats, token table
--        | false, msg, source, line, ignore_stats, raw
-- (ignore_stats: an error reply that came from redis.pcall, already counted by the command)
local function finish(ok, res)
  if ok then
    local out = {}
    flatten(res, out, 2)
    local n = #out
    local ignore = out[1] == 'e' and res.ignore_error_stats_update == true
    if n <= 16 then return true, n, ignore, unpack(out, 1, n) end
    return true, n, ignore, out
  end
  if type(res) ~= 'table' then return false, nil, nil, nil, false, tostring(res) end
  local ignore = res.ignore_error_stats_update
  return false, tostr(res.err), tostr(res.source), tostr(res.line), ignore == true
end

------------------------------------------------------------------------------
-- Environments.
------------------------------------------------------------------------------
local function protect(name, tbl)
  local proxy = readonly(tbl)
  R[name] = proxy
  return proxy
end

R.bit = bit
R.struct = struct
R.cjson = cjson
R.cmsgpack = cmsgpack
R.redis = redis
if mode == 'eval' then R.__redis__err__handler = err_handler end

for _, name in ipairs({'string', 'table', 'math', 'coroutine', 'bit', 'struct', 'cjson', 'cmsgpack', 'redis'}) do
  protect(name, R[name])
end

-- Strings index the (read-only) string library; the string metatable itself is read-only too.
local string_mt = dgetmetatable('')
string_mt.__index = R.string
shown_mt[string_mt] = readonly(string_mt)

setmetatable(R, STRICT_MT)
local env_mt
env, env_mt = readonly(R, readonly(STRICT_MT))
rawset(R, '_G', env)

if mode == 'function' then
  -- While FUNCTION LOAD runs the library body, only a small API is visible.
  local lib_redis = {register_function = nil}
  lib_redis.log = log_command
  lib_redis.LOG_DEBUG, lib_redis.LOG_VERBOSE, lib_redis.LOG_NOTICE, lib_redis.LOG_WARNING = 0, 1, 2, 3
  lib_redis.REDIS_VERSION = '7.0.15'
  lib_redis.REDIS_VERSION_NUM = 458767
  local loading = false
  local FLAGS = {['no-writes'] = 'no-writes', ['allow-oom'] = 'allow-oom', ['allow-stale'] = 'allow-stale',
                 ['no-cluster'] = 'no-cluster', ['allow-cross-slot-keys'] = 'allow-cross-slot-keys'}

  local function read_flags(t)
    local flags = {}
    local j = 1
    while true do
      local v = t[j]
      if v == nil then break end
      local tv = type(v)
      if tv ~= 'string' and tv ~= 'number' then return nil end
      local f = FLAGS[slower(tostring(v))]
      if not f then return nil end
      flags[#flags + 1] = f
      j = j + 1
    end
    return flags
  end

  lib_redis.register_function = function(...)
    if not loading then raise('redis.register_function can only be called on FUNCTION LOAD command') end
    local n = select('#', ...)
    if n < 1 or n > 2 then raise('wrong number of arguments to redis.register_function') end
    local name, callback, flags, desc
    if n == 1 then
      local t = ...
      if type(t) ~= 'table' then
        raise('calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).')
      end
      for k, v in next, (real_of[t] or t) do
        local tk = type(k)
        if tk ~= 'string' and tk ~= 'number' then raise('named argument key given to redis.register_function is not a string') end
        local key = slower(tostring(k))
        local tv = type(v)
        if key == 'function_name' then
          if tv ~= 'string' and tv ~= 'number' then raise('function_name argument given to redis.register_function must be a string') end
          name = tostring(v)
        elseif key == 'description' then
          if tv ~= 'string' and tv ~= 'number' then raise('description argument given to redis.register_function must be a string') end
          desc = tostring(v)
        elseif key == 'callback' then
          if tv ~= 'function' then raise('callback argument given to redis.register_function must be a function') end
          callback = v
        elseif key == 'flags' then
          if tv ~= 'table' then raise('flags argument to redis.register_function must be a table representing function flags') end
          flags = read_flags(v)
          if not flags then raise('unknown flag given') end
        else
          raise('unknown argument given to redis.register_function')
        end
      end
      if name == nil then raise('redis.register_function must get a function name argument') end
      if callback == nil then raise('redis.register_function must get a callback argument') end
    else
      name, callback = ...
      local tn = type(name)
      if tn ~= 'string' and tn ~= 'number' then raise('first argument to redis.register_function must be a string') end
      if type(callback) ~= 'function' then raise('second argument to redis.register_function must be a function') end
      name = tostring(name)
    end
    local problem = pyregister(name, callback, flags or {}, desc)
    if problem then raise(problem) end
  end

  setmetatable(lib_redis, STRICT_MT)
  local lib_globals = setmetatable({redis = readonly(lib_redis)}, STRICT_MT)
  local lib_env = readonly(lib_globals)

  function api.load_library(f)
    env_mt.__index = lib_env
    loading = true
    running = false
    hook_on()
    local ok, err = pcall(f)
    hook_off()
    loading = false
    env_mt.__index = R
    if ok then return true end
    if type(err) == 'string' or type(err) == 'number' then return false, 'ERR ' .. tostring(err) end
    if type(err) == 'table' then return false, tostr(err.err) end
    return false, nil
  end
end

------------------------------------------------------------------------------
-- Entry points for Python.
------------------------------------------------------------------------------
function api.compile(body, chunkname)
  local f, err = loadstring(as_text(body), chunkname)
  if not f then return nil, err end
  return finalize(f)
end

function api.run_eval(f, keys, argv)
  rawset(R, 'KEYS', keys)
  rawset(R, 'ARGV', argv)
  running, script_resp = true, 2
  hook_on()
  local ok, res = xpcall(f, err_handler)
  hook_off()
  running = false
  return finish(ok, res)
end

function api.run_function(f, keys, argv)
  running, script_resp = true, 2
  hook_on()
  local ok, res = xpcall(function() return f(keys, argv) end, err_handler)
  hook_off()
  running = false
  return finish(ok, res)
end

-- The thread's own globals only serve lupa (which looks up debug.traceback
-- unprotected on every call, so it must not be strict) and any chunk loaded
-- behind our back, which thus sees nothing at all.
setfenv(0, {})
return api
"""

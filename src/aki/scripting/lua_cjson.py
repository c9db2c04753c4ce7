"""Lua source of ``cjson`` (lua-cjson 2.1.0 as Redis 7.0 bundles it).

Written in Lua rather than Python so that table traversal order, number
formatting (C's ``%.14g``) and ``strtod`` parsing are the very ones Redis's
C code gets from the same Lua 5.1 core. Error texts and the 1-based
"character" positions follow lua_cjson.c.
"""

CJSON_SOURCE = r"""
local null, argerror = ...
local type, tostring, tonumber, select, error, pcall = type, tostring, tonumber, select, error, pcall
local next, rawget, rawset, ipairs, floor, huge = next, rawget, rawset, ipairs, math.floor, math.huge
local sformat, sbyte, schar, ssub, sfind, sgsub, slower = string.format, string.byte, string.char, string.sub, string.find, string.gsub, string.lower
local tconcat = table.concat

local FAIL = {}  -- marks errors raised by this module, re-raised at the caller's level

local function fail(msg) error({[FAIL] = msg}, 0) end

local function guard(ok, ...)
  if ok then return ... end
  local e = ...
  if type(e) == 'table' and rawget(e, FAIL) then error(rawget(e, FAIL), 3) end
  error(e, 0)
end

local function typename(n, i, v)
  if i > n then return 'no value' end
  return type(v)
end

local ESC = {['"'] = '\\"', ['\\'] = '\\\\', ['/'] = '\\/', ['\b'] = '\\b', ['\t'] = '\\t',
             ['\n'] = '\\n', ['\f'] = '\\f', ['\r'] = '\\r', ['\127'] = '\\u007f'}
for i = 0, 31 do
  local c = string.char(i)
  if not ESC[c] then ESC[c] = sformat('\\u%04x', i) end
end

local function trunc(x) if x >= 0 then return floor(x) end return -floor(-x) end

local function new()
  local cfg = {
    sparse_convert = 0, sparse_ratio = 2, sparse_safe = 10,
    encode_max_depth = 1000, decode_max_depth = 1000,
    encode_invalid_numbers = 0, decode_invalid_numbers = 1,
    encode_keep_buffer = 1, precision = 14,
  }
  local M = {}

  -- configuration -------------------------------------------------------

  -- Helpers below are called by the option functions: argerror depth 2.
  local function arg_init(nmax, n)
    if n > nmax then argerror(2, nmax + 1, 'found too many arguments') end
  end

  local function integer_option(i, v, key, min, max)
    if v ~= nil then
      local x = tonumber(v)
      if x == nil then argerror(2, i, 'number expected, got ' .. type(v)) end
      x = trunc(x)
      if not (min <= x and x <= max) then
        argerror(2, 1, sformat('expected integer between %d and %d', min, max))
      end
      cfg[key] = x
    end
    return cfg[key]
  end

  local BOOL_OPTIONS = {'off', 'on'}
  local function enum_option(i, v, key, options, bool_true)
    if not options then options = BOOL_OPTIONS; bool_true = 1 end
    if v ~= nil then
      if bool_true and type(v) == 'boolean' then
        cfg[key] = v and bool_true or 0
      else
        local tv = type(v)
        if tv ~= 'string' and tv ~= 'number' then argerror(2, i, 'string expected, got ' .. tv) end
        local s = tostring(v)
        local found
        for idx, name in ipairs(options) do if name == s then found = idx - 1 end end
        if not found then argerror(2, i, "invalid option '" .. s .. "'") end
        cfg[key] = found
      end
    end
    local setting = cfg[key]
    if bool_true and (setting == 0 or setting == bool_true) then return setting ~= 0 end
    return options[setting + 1]
  end

  -- (No tail calls here: argerror needs these functions' frames for their names.)
  function M.encode_sparse_array(...)
    arg_init(3, select('#', ...))
    local convert, ratio, safe = ...
    local a = enum_option(1, convert, 'sparse_convert')
    local b = integer_option(2, ratio, 'sparse_ratio', 0, 2147483647)
    local c = integer_option(3, safe, 'sparse_safe', 0, 2147483647)
    return a, b, c
  end
  function M.encode_max_depth(...)
    arg_init(1, select('#', ...))
    local r = integer_option(1, (...), 'encode_max_depth', 1, 2147483647)
    return r
  end
  function M.decode_max_depth(...)
    arg_init(1, select('#', ...))
    local r = integer_option(1, (...), 'decode_max_depth', 1, 2147483647)
    return r
  end
  function M.encode_number_precision(...)
    arg_init(1, select('#', ...))
    local r = integer_option(1, (...), 'precision', 1, 14)
    return r
  end
  function M.encode_keep_buffer(...)
    arg_init(1, select('#', ...))
    local r = enum_option(1, (...), 'encode_keep_buffer')
    return r
  end
  function M.encode_invalid_numbers(...)
    arg_init(1, select('#', ...))
    local r = enum_option(1, (...), 'encode_invalid_numbers', {'off', 'on', 'null'}, 1)
    return r
  end
  function M.decode_invalid_numbers(...)
    arg_init(1, select('#', ...))
    local r = enum_option(1, (...), 'decode_invalid_numbers')
    return r
  end

  -- encoding ------------------------------------------------------------

  local function encode_number(x)
    local inval = cfg.encode_invalid_numbers
    local bad = x ~= x or x == huge or x == -huge
    if inval == 0 then
      if bad then fail('Cannot serialise number: must not be NaN or Inf') end
    elseif inval == 1 then
      if x ~= x then return 'nan' end
    elseif bad then
      return 'null'
    end
    return sformat('%.' .. cfg.precision .. 'g', x)
  end

  local function encode_string(s)
    return '"' .. sgsub(s, '[%c"\\/]', ESC) .. '"'
  end

  local encode_value

  local function array_length(t)
    local max, items = 0, 0
    for k in next, t do
      if type(k) == 'number' and k ~= 0 and floor(k) == k and k >= 1 then
        if k > max then max = k end
        items = items + 1
      else
        return -1
      end
    end
    if cfg.sparse_ratio > 0 and max > items * cfg.sparse_ratio and max > cfg.sparse_safe then
      if cfg.sparse_convert == 0 then fail('Cannot serialise table: excessively sparse array') end
      return -1
    end
    return max
  end

  local function encode_table(t, depth, buf)
    depth = depth + 1
    if depth > cfg.encode_max_depth then
      fail(sformat('Cannot serialise, excessive nesting (%d)', depth))
    end
    local len = array_length(t)
    if len > 0 then
      buf[#buf + 1] = '['
      for i = 1, len do
        if i > 1 then buf[#buf + 1] = ',' end
        encode_value(rawget(t, i), depth, buf)
      end
      buf[#buf + 1] = ']'
    else
      buf[#buf + 1] = '{'
      local comma = false
      for k, v in next, t do
        if comma then buf[#buf + 1] = ',' else comma = true end
        local tk = type(k)
        if tk == 'number' then
          buf[#buf + 1] = '"' .. encode_number(k) .. '":'
        elseif tk == 'string' then
          buf[#buf + 1] = encode_string(k) .. ':'
        else
          fail('Cannot serialise ' .. tk .. ': table key must be a number or string')
        end
        encode_value(v, depth, buf)
      end
      buf[#buf + 1] = '}'
    end
  end

  encode_value = function(v, depth, buf)
    local tv = type(v)
    if tv == 'string' then buf[#buf + 1] = encode_string(v)
    elseif tv == 'number' then buf[#buf + 1] = encode_number(v)
    elseif tv == 'boolean' then buf[#buf + 1] = v and 'true' or 'false'
    elseif tv == 'table' then encode_table(v, depth, buf)
    elseif tv == 'nil' or v == null then buf[#buf + 1] = 'null'
    else fail('Cannot serialise ' .. tv .. ': type not supported') end
  end

  local function do_encode(v)
    local buf = {}
    encode_value(v, 0, buf)
    return tconcat(buf)
  end

  function M.encode(...)
    if select('#', ...) ~= 1 then argerror(1, 1, 'expected 1 argument') end
    return guard(pcall(do_encode, (...)))
  end

  -- decoding ------------------------------------------------------------

  local T_OBJ_BEGIN, T_OBJ_END, T_ARR_BEGIN, T_ARR_END = 'T_OBJ_BEGIN', 'T_OBJ_END', 'T_ARR_BEGIN', 'T_ARR_END'
  local T_STRING, T_NUMBER, T_BOOLEAN, T_NULL = 'T_STRING', 'T_NUMBER', 'T_BOOLEAN', 'T_NULL'
  local T_COLON, T_COMMA, T_END, T_ERROR = 'T_COLON', 'T_COMMA', 'T_END', 'T_ERROR'
  local SINGLE = {[123] = T_OBJ_BEGIN, [125] = T_OBJ_END, [91] = T_ARR_BEGIN, [93] = T_ARR_END,
                  [58] = T_COLON, [44] = T_COMMA}
  local WS = {[32] = true, [9] = true, [10] = true, [13] = true}
  local SIMPLE_ESC = {[34] = '"', [92] = '\\', [47] = '/', [98] = '\b', [116] = '\t',
                      [110] = '\n', [102] = '\f', [114] = '\r'}

  -- How far C's strtod() reads a number starting at p; nil if not at all.
  local function strtod_end(s, p)
    local q = p
    local c = sbyte(s, q)
    if c == 43 or c == 45 then q = q + 1 end
    local word = slower(ssub(s, q, q + 7))
    if ssub(word, 1, 3) == 'inf' then
      if word == 'infinity' then return q + 8 end
      return q + 3
    end
    if ssub(word, 1, 3) == 'nan' then
      if sbyte(s, q + 3) == 40 then
        local _, e = sfind(s, '^[%w_]*%)', q + 4)
        if e then return e + 1 end
      end
      return q + 3
    end
    local digits
    if sbyte(s, q) == 48 and (sbyte(s, q + 1) == 120 or sbyte(s, q + 1) == 88) then
      local _, e1 = sfind(s, '^%x*', q + 2)
      local e = e1 + 1
      digits = e1 - (q + 2) + 1
      if sbyte(s, e) == 46 then
        local _, e2 = sfind(s, '^%x*', e + 1)
        digits = digits + (e2 - e)
        e = e2 + 1
      end
      if digits > 0 then
        local _, pe = sfind(s, '^[pP][+-]?%d+', e)
        return pe and pe + 1 or e
      end
      return q + 1
    end
    local _, e1 = sfind(s, '^%d*', q)
    local e = e1 + 1
    digits = e1 - q + 1
    if sbyte(s, e) == 46 then
      local _, e2 = sfind(s, '^%d*', e + 1)
      digits = digits + (e2 - e)
      e = e2 + 1
    end
    if digits == 0 then return nil end
    local _, pe = sfind(s, '^[eE][+-]?%d+', e)
    return pe and pe + 1 or e
  end

  local function is_invalid_number(s, p)
    local c = sbyte(s, p)
    if c == 43 then return true end
    if c == 45 then p = p + 1; c = sbyte(s, p) end
    if c == 48 then
      local c2 = sbyte(s, p + 1)
      if c2 and ((c2 == 120 or c2 == 88) or (c2 >= 48 and c2 <= 57)) then return true end
      return false
    elseif c == nil or c <= 57 then
      return false
    end
    local w = slower(ssub(s, p, p + 2))
    return w == 'inf' or w == 'nan'
  end

  local function utf8(cp)
    if cp <= 0x7F then return schar(cp) end
    if cp <= 0x7FF then return schar(floor(cp / 64) + 0xC0, cp % 64 + 0x80) end
    if cp <= 0xFFFF then
      return schar(floor(cp / 4096) + 0xE0, floor(cp / 64) % 64 + 0x80, cp % 64 + 0x80)
    end
    return schar(floor(cp / 262144) + 0xF0, floor(cp / 4096) % 64 + 0x80,
                 floor(cp / 64) % 64 + 0x80, cp % 64 + 0x80)
  end

  local function hex4(s, p)
    local h = ssub(s, p, p + 3)
    if #h ~= 4 or not sfind(h, '^%x%x%x%x$') then return nil end
    return tonumber(h, 16)
  end

  local function do_decode(s)
    local pos = 1
    local depth = 0

    -- returns type, value, index (1-based position of the token)
    local function next_token()
      local c = sbyte(s, pos)
      while c and WS[c] do pos = pos + 1; c = sbyte(s, pos) end
      local idx = pos
      if c == nil then return T_END, nil, idx end
      local single = SINGLE[c]
      if single then pos = pos + 1; return single, nil, idx end
      if c == 34 then
        local parts, p = {}, pos + 1
        while true do
          local q = sfind(s, '["\\]', p)
          if not q then
            pos = #s + 1
            return T_ERROR, 'unexpected end of string', pos
          end
          parts[#parts + 1] = ssub(s, p, q - 1)
          if sbyte(s, q) == 34 then pos = q + 1; return T_STRING, tconcat(parts), idx end
          local e = sbyte(s, q + 1)
          local simple = e and SIMPLE_ESC[e]
          if simple then
            parts[#parts + 1] = simple
            p = q + 2
          elseif e == 117 then
            local cp = hex4(s, q + 2)
            local len = 6
            if cp and cp >= 0xD800 and cp <= 0xDFFF then
              if cp >= 0xDC00 then cp = nil
              elseif ssub(s, q + 6, q + 7) ~= '\\u' then cp = nil
              else
                local lo = hex4(s, q + 8)
                if lo and lo >= 0xDC00 and lo <= 0xDFFF then
                  cp = (cp - 0xD800) * 1024 + (lo - 0xDC00) + 0x10000
                  len = 12
                else
                  cp = nil
                end
              end
            end
            if not cp then pos = q; return T_ERROR, 'invalid unicode escape code', q end
            parts[#parts + 1] = utf8(cp)
            p = q + len
          else
            pos = q
            return T_ERROR, 'invalid escape code', q
          end
        end
      end
      local number
      if c == 45 or (c >= 48 and c <= 57) then
        if cfg.decode_invalid_numbers == 0 and is_invalid_number(s, pos) then
          return T_ERROR, 'invalid number', idx
        end
        number = true
      elseif ssub(s, pos, pos + 3) == 'true' then pos = pos + 4; return T_BOOLEAN, true, idx
      elseif ssub(s, pos, pos + 4) == 'false' then pos = pos + 5; return T_BOOLEAN, false, idx
      elseif ssub(s, pos, pos + 3) == 'null' then pos = pos + 4; return T_NULL, null, idx
      elseif (c == 102 or c == 105 or c == 73 or c == 110 or c == 78 or c == 116 or c == 43)
             and cfg.decode_invalid_numbers ~= 0 and is_invalid_number(s, pos) then
        number = true
      end
      if number then
        local e = strtod_end(s, pos)
        local v = e and tonumber(ssub(s, pos, e - 1))
        if not v then return T_ERROR, 'invalid number', idx end
        pos = e
        return T_NUMBER, v, idx
      end
      return T_ERROR, 'invalid token', idx
    end

    local function throw(expected, t, v, idx)
      local found = t == T_ERROR and v or t
      fail(sformat('Expected %s but found %s at character %d', expected, found, idx))
    end

    local function descend()
      depth = depth + 1
      if depth > cfg.decode_max_depth then
        fail(sformat('Found too many nested data structures (%d) at character %d', depth, pos - 1))
      end
    end

    local value

    local function object()
      descend()
      local obj = {}
      local t, v, idx = next_token()
      if t == T_OBJ_END then depth = depth - 1; return obj end
      while true do
        if t ~= T_STRING then throw('object key string', t, v, idx) end
        local key = v
        t, v, idx = next_token()
        if t ~= T_COLON then throw('colon', t, v, idx) end
        rawset(obj, key, value(next_token()))
        t, v, idx = next_token()
        if t == T_OBJ_END then depth = depth - 1; return obj end
        if t ~= T_COMMA then throw('comma or object end', t, v, idx) end
        t, v, idx = next_token()
      end
    end

    local function array()
      descend()
      local arr = {}
      local t, v, idx = next_token()
      if t == T_ARR_END then depth = depth - 1; return arr end
      local i = 1
      while true do
        rawset(arr, i, value(t, v, idx))
        i = i + 1
        t, v, idx = next_token()
        if t == T_ARR_END then depth = depth - 1; return arr end
        if t ~= T_COMMA then throw('comma or array end', t, v, idx) end
        t, v, idx = next_token()
      end
    end

    value = function(t, v, idx)
      if t == T_STRING or t == T_NUMBER or t == T_BOOLEAN or t == T_NULL then return v end
      if t == T_OBJ_BEGIN then return object() end
      if t == T_ARR_BEGIN then return array() end
      throw('value', t, v, idx)
    end

    local result = value(next_token())
    local t, v, idx = next_token()
    if t ~= T_END then throw('the end', t, v, idx) end
    return result
  end

  function M.decode(...)
    local n = select('#', ...)
    if n ~= 1 then argerror(1, 1, 'expected 1 argument') end
    local s = ...
    local ts = type(s)
    if ts == 'number' then s = tostring(s)
    elseif ts ~= 'string' then
      argerror(1, 1, 'string expected, got ' .. typename(n, 1, s))
    end
    if #s >= 2 and (sbyte(s, 1) == 0 or sbyte(s, 2) == 0) then
      error('JSON parser does not support UTF-16 or UTF-32', 2)
    end
    local nul = sfind(s, '\0', 1, true)
    if nul then s = ssub(s, 1, nul - 1) end
    return guard(pcall(do_decode, s))
  end

  M.new = new
  M.null = null
  M._NAME = 'cjson'
  M._VERSION = '2.1.0'
  return M
end

return new()
"""

"""Lua source of ``cmsgpack`` (lua-cmsgpack 0.4.0 as Redis 7.0 bundles it).

Tables are walked in Lua (same ``lua_next`` order as the C library); numbers
go through Python helpers that see IEEE bits (``libs.mp_*``). Quirks kept:
nesting deeper than 16 tables encodes ``nil``, uint64 reads back as signed,
``unpack_limit``'s error prints the input length where the limit belongs.
"""

CMSGPACK_SOURCE = r"""
local h, argerror = ...
local mp_number, mp_int64, mp_float, mp_double = h.number, h.int64, h.float, h.double
local type, tostring, tonumber, select, error, pcall = type, tostring, tonumber, select, error, pcall
local next, rawset, unpack, floor = next, rawset, unpack, math.floor
local sformat, sbyte, schar, ssub = string.format, string.byte, string.char, string.sub
local tconcat = table.concat

local MAX_NESTING = 16
local EOF, BADFMT = {}, {}

local function be16(n) return schar(floor(n / 256) % 256, n % 256) end
local function be32(n)
  return schar(floor(n / 16777216) % 256, floor(n / 65536) % 256, floor(n / 256) % 256, n % 256)
end

local function header(n, fix, fixbase, op16, op32)
  if n <= fix then return schar(fixbase + n) end
  if n <= 65535 then return op16 .. be16(n) end
  return op32 .. be32(n)
end

local function is_int32(x)
  return x == x and x >= -2147483648 and x <= 2147483647 and floor(x) == x
end

local function table_is_array(t)
  local count, max = 0, 0
  for k in next, t do
    if type(k) ~= 'number' or k <= 0 or not is_int32(k) then return false end
    if k > max then max = k end
    count = count + 1
  end
  return max == count
end

local encode
encode = function(v, level, buf)
  local t = type(v)
  if t == 'table' and level == MAX_NESTING then t = 'nil' end
  if t == 'string' then
    local len = #v
    if len < 32 then buf[#buf + 1] = schar(0xa0 + len)
    elseif len <= 0xff then buf[#buf + 1] = '\217' .. schar(len)
    elseif len <= 0xffff then buf[#buf + 1] = '\218' .. be16(len)
    else buf[#buf + 1] = '\219' .. be32(len) end
    buf[#buf + 1] = v
  elseif t == 'boolean' then
    buf[#buf + 1] = v and '\195' or '\194'
  elseif t == 'number' then
    if v >= 0 and v <= 127 and floor(v) == v then buf[#buf + 1] = schar(v)
    else buf[#buf + 1] = mp_number(v) end
  elseif t == 'table' then
    if table_is_array(v) then
      local len = #v
      buf[#buf + 1] = header(len, 15, 0x90, '\220', '\221')
      for j = 1, len do encode(v[j], level + 1, buf) end
    else
      local count = 0
      for _ in next, v do count = count + 1 end
      buf[#buf + 1] = header(count, 15, 0x80, '\222', '\223')
      for k, val in next, v do
        encode(k, level + 1, buf)
        encode(val, level + 1, buf)
      end
    end
  else
    buf[#buf + 1] = '\192'
  end
end

local M = {}

function M.pack(...)
  local n = select('#', ...)
  if n == 0 then argerror(1, 0, 'MessagePack pack needs input.') end
  local buf = {}
  local args = {...}
  for i = 1, n do encode(args[i], 0, buf) end
  return tconcat(buf)
end

-- Decoding state lives in upvalues for speed; unpack is not re-entrant anyway.
local s, p, e

local function need(n) if e - p + 1 < n then error(EOF, 0) end end
local function u16(at) local a, b = sbyte(s, at, at + 1) return a * 256 + b end
local function u32(at)
  local a, b, c, d = sbyte(s, at, at + 3)
  return ((a * 256 + b) * 256 + c) * 256 + d
end
local function str(skip, len)
  need(skip + len)
  local v = ssub(s, p + skip, p + skip + len - 1)
  p = p + skip + len
  return v
end

local decode
local function array(len)
  local t = {}
  for i = 1, len do
    local v = decode()
    if v ~= nil then rawset(t, i, v) end
  end
  return t
end
local function map(len)
  local t = {}
  for _ = 1, len do
    local k = decode()
    local v = decode()
    rawset(t, k, v)
  end
  return t
end

decode = function()
  need(1)
  local c = sbyte(s, p)
  if c < 0x80 then p = p + 1; return c end
  if c >= 0xe0 then p = p + 1; return c - 256 end
  if c >= 0xa0 and c <= 0xbf then return str(1, c - 0xa0) end
  if c >= 0x90 and c <= 0x9f then p = p + 1; return array(c - 0x90) end
  if c <= 0x8f then p = p + 1; return map(c - 0x80) end
  if c == 0xcc then need(2); p = p + 2; return sbyte(s, p - 1) end
  if c == 0xd0 then need(2); p = p + 2; local b = sbyte(s, p - 1); return b >= 128 and b - 256 or b end
  if c == 0xcd then need(3); p = p + 3; return u16(p - 2) end
  if c == 0xd1 then need(3); p = p + 3; local v = u16(p - 2); return v >= 32768 and v - 65536 or v end
  if c == 0xce then need(5); p = p + 5; return u32(p - 4) end
  if c == 0xd2 then need(5); p = p + 5; local v = u32(p - 4); return v >= 2147483648 and v - 4294967296 or v end
  if c == 0xcf or c == 0xd3 then need(9); p = p + 9; return mp_int64(ssub(s, p - 8, p - 1)) end
  if c == 0xc0 then p = p + 1; return nil end
  if c == 0xc3 then p = p + 1; return true end
  if c == 0xc2 then p = p + 1; return false end
  if c == 0xca then need(5); p = p + 5; return mp_float(ssub(s, p - 4, p - 1)) end
  if c == 0xcb then need(9); p = p + 9; return mp_double(ssub(s, p - 8, p - 1)) end
  if c == 0xd9 then need(2); return str(2, sbyte(s, p + 1)) end
  if c == 0xda then need(3); return str(3, u16(p + 1)) end
  if c == 0xdb then need(5); local len = u32(p + 1); p = p + 5; return str(0, len) end
  if c == 0xdc then need(3); local len = u16(p + 1); p = p + 3; return array(len) end
  if c == 0xdd then need(5); local len = u32(p + 1); p = p + 5; return array(len) end
  if c == 0xde then need(3); local len = u16(p + 1); p = p + 3; return map(len) end
  if c == 0xdf then need(5); local len = u32(p + 1); p = p + 5; return map(len) end
  error(BADFMT, 0)
end

local function checkint(n, i, v, default)
  if v == nil and default then return default end
  local x = tonumber(v)
  if x == nil then argerror(2, i, 'number expected, got ' .. ((i > n) and 'no value' or type(v))) end
  if x >= 0 then return floor(x) end
  return -floor(-x)
end

local function checkdata(n, data)
  local td = type(data)
  if td == 'number' then return tostring(data) end
  if td ~= 'string' then argerror(2, 1, 'string expected, got ' .. ((n < 1) and 'no value' or td)) end
  return data
end

local function unpack_full(data, limit, offset)
  local len = #data
  local decode_all = limit == 0 and offset == 0
  if offset < 0 or limit < 0 then
    error(sformat('Invalid request to unpack with offset of %d and limit of %d.', offset, len), 3)
  elseif offset > len then
    error(sformat('Start offset %d greater than input length %d.', offset, len), 3)
  end
  if decode_all then limit = 2147483647 end
  s, p, e = data, offset + 1, len
  local out, cnt = {}, 0
  while p <= e and cnt < limit do
    local ok, v = pcall(decode)
    if not ok then
      s = nil
      if v == EOF then error('Missing bytes in input.', 3) end
      if v == BADFMT then error('Bad data format in input.', 3) end
      error(v, 0)
    end
    cnt = cnt + 1
    out[cnt] = v
  end
  local left = e - p + 1
  s = nil
  if not decode_all then
    return left == 0 and -1 or len - left, unpack(out, 1, cnt)
  end
  return unpack(out, 1, cnt)
end

function M.unpack(...)
  local data = checkdata(select('#', ...), (...))
  return unpack_full(data, 0, 0)
end

function M.unpack_one(...)
  local n = select('#', ...)
  local data, offset = ...
  offset = checkint(n, 2, offset, 0)
  data = checkdata(n, data)
  return unpack_full(data, 1, offset)
end

function M.unpack_limit(...)
  local n = select('#', ...)
  local data, limit, offset = ...
  limit = checkint(n, 2, limit)
  offset = checkint(n, 3, offset, 0)
  data = checkdata(n, data)
  return unpack_full(data, limit, offset)
end

M._NAME = 'cmsgpack'
M._VERSION = 'lua-cmsgpack 0.4.0'
M._COPYRIGHT = 'Copyright (C) 2012, Salvatore Sanfilippo'
M._DESCRIPTION = 'MessagePack C implementation for Lua'
return M
"""

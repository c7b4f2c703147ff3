-- nginx + ngx_http_lua handlers for the off-CPU test: /sleepy blocks the
-- worker in a C call made from Lua (usleep through the FFI, 20 ms), /burn
-- burns CPU. /stats prints how many sleeps there were and how long they really
-- blocked in microseconds (monotonic clock around each call). /nap yields.
local ffi = require("ffi")
ffi.cdef [[
int usleep(unsigned int usec);
struct ebt_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock, struct ebt_timespec *ts);
]]
local M = {}
local ts = ffi.new("struct ebt_timespec")
local sleeps, blocked_us = 0, 0

local function now_us()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
end

local function burn(n)
  local s = 0
  for i = 1, n do s = (s * 31 + i) % 1000003 end  -- line 22
  return s
end

function M.sleepy()
  local t0 = now_us()
  ffi.C.usleep(20000)  -- line 28
  blocked_us = blocked_us + (now_us() - t0)
  sleeps = sleeps + 1
  ngx.say("slept")
end

function M.burn() ngx.say(burn(100000)) end  -- line 34

function M.stats() ngx.say(string.format("%d %.0f", sleeps, blocked_us)) end

-- /nap waits 20 ms without blocking: ngx.sleep yields the request's coroutine
-- to nginx's event loop, and the worker waits in epoll_wait with no Lua code
-- on its stack.
function M.nap()
  ngx.sleep(0.02)
  ngx.say("napped")
end

return M

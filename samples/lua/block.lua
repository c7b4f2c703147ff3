-- Fixed off-CPU split for `record --off-cpu --lua`: mid() calls wait_a() once
-- and wait_b() three times; each blocks 10 ms in an FFI call (usleep), so
-- wait_a has 25 % and wait_b 75 % of the blocked time. Each function measures
-- its own wall time and the script prints it: the test compares ebtrace's
-- attribution with it. A warm-up blocks in the main chunk first (the recorder
-- identifies the VM at the first events). arg[1]: rounds (default 40).
local ffi = require("ffi")
ffi.cdef [[
int usleep(unsigned int usec);
typedef struct { long tv_sec; long tv_nsec; } ebt_timespec;
int clock_gettime(int clk, ebt_timespec *ts);
]]
local ts = ffi.new("ebt_timespec")
local function now() ffi.C.clock_gettime(1, ts) return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9 end
local spent = {0, 0}
local function wait_a()
  local t = now()
  ffi.C.usleep(10000)  -- line 18
  spent[1] = spent[1] + now() - t
end
local function wait_b()
  local t = now()
  ffi.C.usleep(10000)  -- line 23
  spent[2] = spent[2] + now() - t
end
local function mid()
  wait_a()  -- line 27
  for _ = 1, 3 do wait_b() end  -- line 28
end
for _ = 1, 20 do ffi.C.usleep(10000) end  -- warm-up, line 30
for _ = 1, tonumber(arg and arg[1]) or 40 do mid() end  -- line 31
print(string.format("block: wait_a %.6f wait_b %.6f", spent[1], spent[2]))

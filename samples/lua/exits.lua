-- JIT trace exits on every fourth iteration: side traces are never compiled
-- (hotexit is huge), so each exit goes through the VM's exit handler, which
-- restores the trace's frames in C (lj_trace_exit, lj_snap_restore) inside a C
-- frame of its own without a Lua frame. A profiler must keep spin's Lua frames
-- on the activation lua_pcall entered and show the exit's C code above them.
-- Runs for `arg[1]` CPU seconds (default 2).
jit.opt.start("hotexit=1000000000")
local function spin(n)
  local s = 0
  for i = 1, n do
    if i % 4 == 0 then s = s + 1 else s = s - 1 end  -- line 11
  end
  return s
end

local budget = tonumber(arg and arg[1]) or 2
local sink = 0
while os.clock() < budget do
  sink = sink + spin(1000)  -- line 19
end
print(string.format("exits: %.2f CPU s, sink %d", os.clock(), sink % 10))

-- Protos reused after collectgarbage(). Phase one loads chunk "=gen_one" 32
-- times and burns CPU in every copy, called through a local named burn_one
-- (leaf line 1); the copies are dropped and collected. Phase two loads chunk
-- "=gen_two" (the same size, leaf line 2) until copies land at addresses phase
-- one's had, and burns CPU in those copies only, called through burn_two. A
-- profiler that caches protos by address alone would give phase two's samples
-- phase one's name and line. Each phase runs for `arg[1]` CPU seconds
-- (default 1); arg[2] "interp" turns the JIT off. Prints how many protos were
-- reused (the test checks there was at least one).
--
-- Why the addresses repeat: each chunk is one proto (+ its closure) of a size
-- nothing else has, allocated between two long-lived guard tables, so the hole
-- it leaves is an exact fit that LuaJIT's allocator (dlmalloc) hands out to
-- the next proto of that size.
local ffi = require("ffi")
local new_table = require("table.new")
if arg and arg[2] == "interp" then jit.off() end

-- Address of a Lua function's bytecode (GCfuncL.pc: right behind its GCproto).
local function bc_addr(f)
  local closure = tonumber(tostring(f):match("0x%x+"))
  if ffi.abi("gc64") then return tonumber(ffi.cast("uint64_t*", closure)[4]) end
  return tonumber(ffi.cast("uint32_t*", closure)[4])
end

-- Dead padding makes the proto large (> 256 bytes: a best-fit allocation).
local BODY = "local n = ... local s = 0 for i = 1, n do s = (s * 31 + i) % 1000003 end " ..
             "if n < 0 then " .. string.rep("s = s - 1 ", 120) .. "end return s\n"
local SRC_ONE = BODY .. "\n"
local SRC_TWO = "\n" .. BODY

local budget = tonumber(arg and arg[1]) or 1
local COPIES = 32
local guards = new_table(4 * COPIES + 2, 0)
local function guard() guards[#guards + 1] = {} end

collectgarbage()
collectgarbage()
collectgarbage("stop")  -- nothing freed behind our back between the phases

guard()
local ones = new_table(COPIES, 0)
for i = 1, COPIES do
  ones[i] = assert(load(SRC_ONE, "=gen_one"))
  guard()
end
local addrs = new_table(COPIES, 0)
for i = 1, COPIES do addrs[i] = bc_addr(ones[i]) end

local stop = os.clock() + budget
local sink = 0
while os.clock() < stop do
  for i = 1, COPIES do
    local burn_one = ones[i]
    sink = sink + burn_one(2000)  -- line 55
  end
end

ones = nil
if jit.flush then jit.flush() end  -- traces keep their start protos alive
collectgarbage()
collectgarbage()
collectgarbage("stop")  -- a full collection restarts the collector

local function was_used(addr)
  for i = 1, COPIES do
    if addrs[i] == addr then addrs[i] = 0; return true end
  end
  return false
end
local twos, misses = new_table(COPIES, 0), new_table(4 * COPIES, 0)
for _ = 1, 4 * COPIES do
  local f = assert(load(SRC_TWO, "=gen_two"))
  if was_used(bc_addr(f)) then twos[#twos + 1] = f else misses[#misses + 1] = f end
  if #twos == COPIES then break end
end

stop = os.clock() + (#twos > 0 and budget or 0)
while os.clock() < stop do
  for i = 1, #twos do
    local burn_two = twos[i]
    sink = sink + burn_two(2000)  -- line 82
  end
end
print(string.format("reuse: %d of %d protos at reused addresses (sink %d)", #twos, COPIES, sink % 10))

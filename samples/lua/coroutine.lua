-- A coroutine resumed from Lua: driver() resumes worker(), which burns CPU in
-- leaf() and yields after each round. A profiler must show the resumer's
-- frames (main chunk -> driver -> coroutine.resume) under the coroutine's own
-- (worker -> leaf). Runs for `arg[1]` CPU seconds (default 2).
local function leaf(n)
  local s = 0
  for i = 1, n do s = (s * 31 + i) % 1000003 end  -- line 7
  return s
end

local function worker(n)
  while true do
    n = coroutine.yield(leaf(n))  -- line 13
  end
end

local function driver(co, n)
  local ok, v = coroutine.resume(co, n)  -- line 18
  assert(ok, v)
  return v
end

local budget = tonumber(arg and arg[1]) or 2
local co = coroutine.create(worker)
local sink = 0
while os.clock() < budget do
  sink = sink + driver(co, 50000)  -- line 27
end
print(string.format("coroutine: %.2f CPU s, sink %d", os.clock(), sink % 10))

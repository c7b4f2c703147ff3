-- Fixed CPU split for profiler tests: mid() calls leaf_a(n) and leaf_b(3n), two
-- identical loops, so leaf_a gets 25 % and leaf_b 75 % of the CPU. Each loop is
-- one source line (the leaf line is exact in the interpreter). Runs until the
-- process has used `arg[1]` CPU seconds (default 2), so the sample count does
-- not depend on how loaded the machine is.
local function leaf_a(n)
  local s = 0
  for i = 1, n do s = (s * 31 + i) % 1000003 end  -- line 8
  return s
end

local function leaf_b(n)
  local s = 0
  for i = 1, n do s = (s * 31 + i) % 1000003 end  -- line 14
  return s
end

local function mid(n)
  return leaf_a(n) + leaf_b(3 * n)  -- line 19
end

local budget = tonumber(arg and arg[1]) or 2
local sink, rounds = 0, 0
while os.clock() < budget do
  sink = sink + mid(20000)  -- line 25
  rounds = rounds + 1
end
print(string.format("split: %d rounds, %.2f CPU s, sink %d", rounds, os.clock(), sink % 10))

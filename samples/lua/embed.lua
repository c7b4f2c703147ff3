-- Run by tests/lua/embed_host.c: C calls outer() (Lua), which calls bridge()
-- (C), which calls inner() (Lua), which burns CPU.
function inner(n)
  local s = 0
  for i = 1, n do s = (s * 31 + i) % 1000003 end  -- line 5
  return s
end

function outer(n)
  return bridge(n) + 1  -- line 10
end

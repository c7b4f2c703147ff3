-- One of two VMs in one process (tests/lua/embed_host.c twovms): alpha burns.
local function alpha(n)
  local s = 0
  for i = 1, n do s = (s * 31 + i) % 1000003 end  -- line 4
  return s
end

function outer(n)
  return alpha(n) + 1  -- line 9
end

-- The other VM of tests/lua/embed_host.c twovms: beta burns, on other lines
-- than vm_a.lua's alpha, so a frame named from the wrong VM shows.
--
--
local function beta(n)
  local t = 0
  for j = 1, n do t = (t * 17 + j) % 1000033 end  -- line 7
  return t
end

function outer(n)
  local r = beta(n)  -- line 12
  return r + 2
end

-- nginx + ngx_http_lua handlers with a known CPU cost (Lua tests, bench-lua.sh):
-- /heavy does three times the work of /light; both run the same burn loop.
local M = {}

local function burn(n)
  local s = 0
  for i = 1, n do s = (s * 31 + i) % 1000003 end  -- line 7
  return s
end

function M.light() ngx.say(burn(100000)) end  -- line 11

function M.heavy() ngx.say(burn(300000)) end  -- line 13

return M

-- wrk script: requests alternate between /light and /heavy, so both are
-- served equally often whatever their cost.
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", n % 2 == 0 and "/heavy" or "/light")
end

-- Seed 003: the timeout pattern (asyncio.wait_for).
local xf = require "xfutures"

local function future_with_timeout(future, timeout)
  local ok, result = pcall(xf.await, xf.wait_for(future, timeout))
  if not ok and xf.is_timeout(result) then
    print(("Future timed out after %g seconds"):format(timeout))
    print(("The original future was cancelled: %s"):format(future:cancelled()))
    return nil
  elseif not ok then
    error(result, 0)
  end
  return result
end

xf.run(function()
  local slow = xf.spawn(function()
    xf.sleep(5)
    return "too late"
  end)
  future_with_timeout(slow, 0.1)
  local quick = xf.spawn(function()
    xf.sleep(0.05)
    return "in time"
  end)
  print(("Result: %s"):format(future_with_timeout(quick, 1)))
end)

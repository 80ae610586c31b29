-- Timeout (seed 003): wait_for gives up on a slow future and cancels it.
local xf = require "xfutures"

local function future_with_timeout(future, timeout)
  local ok, result = pcall(xf.await, xf.wait_for(future, timeout))
  if not ok and xf.is_timeout(result) then
    print(("Future timed out after %s seconds"):format(timeout))
    print(("The original future was cancelled: %s"):format(future:cancelled() and "True"
      or "False"))
    return nil
  elseif not ok then
    error(result, 0)
  end
  return result
end

xf.run(function()
  local slow = xf.future() -- nothing resolves it in time
  future_with_timeout(slow, 0.05)
  local quick = xf.future()
  xf.call_later(0.02, function()
    quick:set_result("in time")
  end)
  print("Result: " .. future_with_timeout(quick, 30)) -- the bound only ends a hang
end)

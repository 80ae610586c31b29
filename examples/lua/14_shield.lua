-- Shield (seed 003): cancelling a shielded waiter leaves the future alone.
local xf = require "xfutures"

local function yes(b)
  return b and "True" or "False"
end

xf.run(function()
  local future = xf.future()
  local task = xf.spawn(function()
    local ok, e = pcall(xf.await, xf.shield(future))
    if not ok and xf.is_cancelled(e) then
      print("Shielded waiter was cancelled")
      print("But future was not: " .. yes(not future:cancelled()))
    end
    error(e, 0)
  end)
  xf.sleep(0.02)
  task:cancel()
  pcall(xf.await, task)
  print("Future cancelled: " .. yes(future:cancelled()))
  future:set_result("Still usable!")
  print("Future result: " .. future:result())
end)

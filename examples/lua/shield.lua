-- Seed 003: cancellation propagates from a task to the future it awaits,
-- unless the future is shielded.
local xf = require "xfutures"

xf.run(function()
  -- Propagation: the waiter cancels the future on its way out.
  local future = xf.future()
  local task = xf.spawn(function()
    local ok, e = pcall(xf.await, future)
    if not ok and xf.is_cancelled(e) then
      print("Waiter was cancelled")
      future:cancel()
    end
    error(e, 0)
  end)
  xf.sleep(0.1)
  task:cancel()
  pcall(xf.await, task)
  print(("Future cancelled: %s"):format(future:cancelled()))

  -- Shield: cancelling the waiter leaves the future alone.
  future = xf.future()
  task = xf.spawn(function()
    local ok, e = pcall(xf.await, xf.shield(future))
    if not ok and xf.is_cancelled(e) then
      print("Shielded waiter was cancelled")
      print(("But future was not: %s"):format(not future:cancelled()))
    end
    error(e, 0)
  end)
  xf.sleep(0.1)
  task:cancel()
  pcall(xf.await, task)
  print(("Future cancelled: %s"):format(future:cancelled()))
  future:set_result("Still usable!")
  print(("Future result: %s"):format(future:result()))
end)

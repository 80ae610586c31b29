-- Cancellation propagation (seed 003): cancelling the task that awaits a
-- future; the waiter cancels the future on its way out.
local xf = require "xfutures"

xf.run(function()
  local future = xf.future()
  local task = xf.spawn(function()
    local ok, e = pcall(xf.await, future)
    if not ok and xf.is_cancelled(e) then
      print("Waiter was cancelled")
      future:cancel()
    end
    error(e, 0)
  end)
  xf.sleep(0.02)
  task:cancel()
  pcall(xf.await, task)
  print("Future cancelled: " .. (future:cancelled() and "True" or "False"))
end)

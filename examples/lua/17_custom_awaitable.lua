-- Custom awaitables vs. futures (seed 003): an object whose metatable has
-- __await, delegating to a sleep, can be awaited like a future (xf.await)
-- and gathered beside one; but only the future holds its outcome: awaiting
-- it again gives the stored result at once, while awaiting the custom object
-- runs it again.
local xf = require "xfutures"

local CustomAwaitable = {}
CustomAwaitable.__index = CustomAwaitable

function CustomAwaitable.new(result, delay)
  return setmetatable({ result = result, delay = delay, runs = 0 }, CustomAwaitable)
end

-- xf.await calls this in the awaiting task: sleep, then give our result.
function CustomAwaitable:__await()
  self.runs = self.runs + 1
  xf.sleep(self.delay)
  return self.result
end

xf.run(function()
  print("Awaiting a custom awaitable")
  print("Result: " .. xf.await(CustomAwaitable.new("Custom result", 0.02)))

  print("Gathering a custom awaitable beside a future")
  local custom = CustomAwaitable.new("Custom result 2", 0.01)
  local future = xf.future()
  xf.call_later(0.02, function()
    future:set_result("Future result")
  end)
  local results = xf.await(xf.gather(custom, future))
  print("Gathered: " .. table.concat(results, ", "))

  print("The custom awaitable is a future: " .. (xf.is_future(custom) and "True" or "False"))
  print("Awaiting the done future again: " .. xf.await(future))
  local again = xf.await(custom)
  print(("Awaiting the custom awaitable again runs it again: %s (runs: %d)"):format(again,
    custom.runs))
end)

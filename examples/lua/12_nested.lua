-- Nested futures (seed 003): the outer future's result is the inner future.
-- Awaiting does not unwrap it by itself, so the program awaits twice.
local xf = require "xfutures"

xf.run(function()
  local outer, inner = xf.future(), xf.future()
  outer:set_result(inner)
  print("outer result is a future: " .. (xf.is_future(outer:result()) and "True" or "False"))
  xf.spawn(function()
    xf.sleep(0.05)
    inner:set_result("Nested result")
  end)
  local result = xf.await(outer)
  if xf.is_future(result) then
    result = xf.await(result)
  end
  print(result)
end)

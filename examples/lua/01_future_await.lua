-- A future resolved by one task after a sleep and awaited by another
-- (seeds 000 and 002).
local xf = require "xfutures"

local function bar(future)
  print("bar will sleep for 0.1 seconds")
  xf.sleep(0.1)
  print("bar resolving the future")
  future:set_result("future is resolved")
end

local function foo(future)
  print("foo will await the future")
  local result = xf.await(future)
  print("foo finds the future resolved: " .. result)
end

xf.run(function()
  local future = xf.future()
  local t1 = xf.spawn(bar, future)
  local t2 = xf.spawn(foo, future)
  xf.await(t2)
  xf.await(t1)
end)
print("main exiting")

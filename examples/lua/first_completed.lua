-- Seed 003: the first-completed pattern; the other futures are cancelled.
local xf = require "xfutures"

local function job(name, seconds)
  return xf.spawn(function()
    xf.sleep(seconds)
    return name
  end)
end

xf.run(function()
  local futures = { job("slow", 2), job("fast", 0.1), job("medium", 1) }
  local winner = xf.await(xf.first_completed(futures, true))
  print(("First completed: %s"):format(winner))
  xf.sleep(0) -- let the cancellations land
  for _, f in ipairs(futures) do
    print(("  cancelled: %s"):format(f:cancelled()))
  end
end)

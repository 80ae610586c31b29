-- First-completed with cancellation of the rest (seed 003).
local xf = require "xfutures"

local function job(name, seconds)
  local future = xf.future()
  xf.call_later(seconds, function()
    if not future:done() then
      future:set_result(name)
    end
  end)
  return future
end

local function yes(b)
  return b and "True" or "False"
end

xf.run(function()
  local slow, fast, medium = job("slow", 2), job("fast", 0.02), job("medium", 1)
  local winner = xf.await(xf.first_completed({ slow, fast, medium }, true))
  print("First completed: " .. winner)
  print("slow cancelled: " .. yes(slow:cancelled()))
  print("medium cancelled: " .. yes(medium:cancelled()))
end)

-- Using futures with context managers (seed 003): an async resource is
-- acquired and released around the resolution of a future, with a <close>
-- variable inside a coroutine task (its __close may await). The release
-- happens even when the work inside fails, and the future's outcome is
-- still there to read after the release.
local xf = require "xfutures"

local Resource = {}
Resource.__index = Resource

-- async def __aenter__
function Resource.acquire(name)
  print("Acquiring " .. name)
  xf.sleep(0.01) -- acquire_resource()
  print("Acquired " .. name)
  return setmetatable({ name = name, released = false }, Resource)
end

-- async def __aexit__: runs when the variable goes out of scope, with the
-- error when the scope is left by one.
function Resource:__close(err)
  local after = err and (" after %s: %s"):format(err.type, err.message) or ""
  print(("Releasing %s%s"):format(self.name, after))
  xf.sleep(0.01) -- release_resource()
  self.released = true
  print("Released " .. self.name)
end

local function process_with_resource(resource, result_future, fail)
  print("Processing with " .. resource.name)
  xf.sleep(0.01)
  if fail then
    local err = xf.new_error("ValueError", "the job failed")
    result_future:set_error(err)
    error(err, 0)
  end
  result_future:set_result("processed by " .. resource.name)
end

local function future_with_context_manager(name, fail)
  local result_future = xf.future()
  local resource
  local ok, e = pcall(function()
    local r <close> = Resource.acquire(name)
    resource = r
    process_with_resource(r, result_future, fail)
  end)
  if not ok then
    print(("Caught %s: %s"):format(e.type, e.message))
  end
  print("The resource is released: " .. (resource.released and "True" or "False"))
  -- The resource has been released, but the future still has the outcome.
  local done, value = pcall(xf.await, result_future)
  if done then
    print("The future's result after the release: " .. value)
  else
    print(("The future's error after the release: %s: %s"):format(value.type, value.message))
  end
end

xf.run(function()
  future_with_context_manager("connection-1")
  future_with_context_manager("connection-2", true)
end)

-- The seed programs in Lua form (examples/lua), run as scripts and checked
-- against what the seeds say they print.
local lua = os.getenv("XF_LUA") or "lua5.4"
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local examples = here .. "/../../examples/lua/"

local function run(name)
  local p = assert(io.popen(lua .. " " .. examples .. name .. " 2>&1"))
  local out = p:read("a")
  local ok = p:close()
  assert(ok, name .. " failed:\n" .. out)
  return out
end

local function lines(s)
  local t = {}
  for line in s:gmatch("[^\n]+") do
    t[#t + 1] = line
  end
  return t
end

describe("the seed programs", function()
  it("resolve a future in one task and await it in another", function()
    assert.are.same({
      "bar will sleep for 0.3 seconds",
      "foo will await the future",
      "bar resolving the future",
      "foo finds the future resolved",
      "Finished!",
      "main exiting",
    }, lines(run "future_and_tasks.lua"))
  end)

  it("print pool results as they complete", function()
    assert.are.same({ "1", "2", "3", "4", "5", "6", "7", "8", "9", "10" },
      lines(run "pool_as_completed.lua"))
  end)

  it("gather work offloaded to threads", function()
    assert.are.same({ "[0, 900, 990000]" }, lines(run "to_thread_gather.lua"))
  end)

  it("resolve a future from call_later on the main thread", function()
    local out = lines(run "call_later.lua")
    assert.are.equal("Is the coroutine running inside a task = true", out[1])
    assert.are.equal("Is the callback running on the main thread = true", out[2])
    assert.are.equal("coro exiting", out[3])
    assert.matches("^main exiting after 0%.%d seconds$", out[4])
  end)

  it("time out and cancel the slow future", function()
    assert.are.same({
      "Future timed out after 0.1 seconds",
      "The original future was cancelled: true",
      "Result: in time",
    }, lines(run "timeout.lua"))
  end)

  it("take the first completed and cancel the rest", function()
    assert.are.same({ "First completed: fast", "  cancelled: true", "  cancelled: false",
      "  cancelled: true" }, lines(run "first_completed.lua"))
  end)

  it("carry errors through futures", function()
    assert.are.same({
      "Caught exception: Something went wrong",
      "Callback caught: Another error",
      "Task 1 result: 10",
      "Task 2 raised ValueError: task 2 failed",
      "Task 3 result: 30",
      "Task 4 raised ValueError: task 4 failed",
    }, lines(run "errors.lua"))
  end)

  it("propagate cancellation, unless shielded", function()
    assert.are.same({
      "Waiter was cancelled",
      "Future cancelled: true",
      "Shielded waiter was cancelled",
      "But future was not: true",
      "Future cancelled: false",
      "Future result: Still usable!",
    }, lines(run "shield.lua"))
  end)

  it("run blocking calls in parallel from the loop", function()
    local out = lines(run "run_in_executor.lua")
    assert.are.equal("Results: 1, 4, 9, 16", out[1])
    assert.matches("^Four blocking calls took", out[2])
    assert.are.equal("Native result 42, callback on the main thread: true", out[3])
  end)
end)

-- The awaitable protocol: an object whose metatable has __await can be
-- given to xf.await and xf.gather beside futures.
local xf = require "xfutures"

local Delayed = {}
Delayed.__index = Delayed

local function delayed(value, delay)
  return setmetatable({ value = value, delay = delay, runs = 0 }, Delayed)
end

function Delayed:__await()
  self.runs = self.runs + 1
  self.task = xf.current_task()
  xf.sleep(self.delay)
  if self.value == "fail" then
    error(xf.new_error("ValueError", "no value"), 0)
  end
  return self.value, "second"
end

describe("awaitables", function()
  it("are awaited through __await, in the awaiting task, which may itself await", function()
    local aw = delayed("done", 0.01)
    local task
    local a, b = xf.run(function()
      task = xf.current_task()
      local x, y = xf.await(aw)
      return x .. "+" .. y
    end)
    assert.are.equal("done+second", a)
    assert.is_nil(b)
    assert.are.equal(task, aw.task)
    assert.are.equal(1, aw.runs)
  end)

  it("raise the error of __await at the await", function()
    local e = xf.run(function()
      local ok, err = pcall(xf.await, delayed("fail", 0))
      assert.is_false(ok)
      return err
    end)
    assert.are.equal("ValueError", e.type)
    assert.are.equal("no value", e.message)
  end)

  it("are gathered beside futures, in order", function()
    local f = xf.future()
    local aw = delayed("custom", 0.01)
    local results = xf.run(function()
      xf.call_later(0.02, function()
        f:set_result("future")
      end)
      return xf.await(xf.gather(aw, f))
    end)
    assert.are.same({ "custom", "future" }, results)
    local collected = xf.run(function()
      return xf.await(xf.gather { delayed("fail", 0), delayed("ok", 0), return_exceptions = true })
    end)
    assert.are.equal("ValueError", collected[1].type)
    assert.are.equal("ok", collected[2])
  end)

  it("are told apart from futures and plain values", function()
    assert.is_true(xf.is_awaitable(delayed(1, 0)))
    assert.is_true(xf.is_awaitable(xf.future()))
    assert.is_false(xf.is_awaitable({}))
    assert.is_false(xf.is_awaitable(42))
    assert.is_false(xf.is_awaitable("text"))
    assert.is_false(xf.is_future(delayed(1, 0)))
    local ok, err = pcall(xf.await, {})
    assert.is_false(ok)
    assert.matches("expected a future or an awaitable, got table", err)
  end)
end)

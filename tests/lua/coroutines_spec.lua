-- Coroutines: tasks that await futures, timers, combinators, cancellation.
local xf = require "xfutures"

describe("tasks", function()
  it("await a future resolved by another task", function()
    local log = {}
    local result = xf.run(function()
      local fut = xf.future()
      xf.spawn(function()
        xf.sleep(0.02)
        log[#log + 1] = "resolving"
        fut:set_result("Finished!")
      end)
      log[#log + 1] = "awaiting"
      local v = xf.await(fut)
      log[#log + 1] = "got"
      return v
    end)
    assert.are.equal("Finished!", result)
    assert.are.same({ "awaiting", "resolving", "got" }, log)
  end)

  it("return their value through their future, integers intact", function()
    local t = xf.spawn(function(a, b) return a * b end, 6, 7)
    assert.is_true(xf.is_future(t))
    assert.are.equal(42, xf.run(t))
    assert.are.equal("integer", math.type(t:result()))
  end)

  it("raise the awaited future's error at the await", function()
    local e = xf.run(function()
      local f = xf.future()
      xf.call_later(0.01, function() f:set_error { type = "KeyError", message = "k" } end)
      local ok, err = pcall(xf.await, f)
      assert.is_false(ok)
      return err
    end)
    assert.are.equal("KeyError", e.type)
  end)

  it("fail with the error and traceback of the coroutine", function()
    local t = xf.spawn(function()
      xf.sleep(0)
      error("went wrong")
    end)
    local ok, e = pcall(xf.run, t)
    assert.is_false(ok)
    assert.are.equal("LuaError", e.type)
    assert.matches("went wrong", e.message)
    assert.matches("traceback", e.traceback)
    assert.matches("coroutines_spec", e.traceback)
  end)

  it("keep a custom error object as the error's value", function()
    local custom = { reason = "mine" }
    local ok, e = pcall(xf.run, function() error(custom) end)
    assert.is_false(ok)
    assert.are.equal(custom, e.value)
  end)

  it("see a cancellation error at their await when cancelled", function()
    local seen
    local t = xf.spawn(function()
      local ok, e = pcall(xf.sleep, 10)
      seen = e
      error(e)
    end)
    xf.run(function()
      xf.sleep(0.01)
      t:cancel()
      local ok = pcall(xf.await, t)
      assert.is_false(ok)
    end)
    assert.is_true(xf.is_cancelled(seen))
    assert.is_true(t:cancelled())
  end)

  it("may swallow a cancellation and go on", function()
    local t = xf.spawn(function()
      local ok = pcall(xf.sleep, 10)
      return ok and "slept" or "carried on"
    end)
    xf.run(function()
      xf.sleep(0.01)
      t:cancel()
    end)
    assert.are.equal("carried on", xf.run(t))
  end)

  it("refuse to await in a plain coroutine inside them, naming xf.spawn", function()
    local f = xf.future() -- nobody finishes it: blocking would be forever
    local results = xf.run(function()
      local co = coroutine.create(function() return xf.await(f) end)
      return { coroutine.resume(co) }
    end)
    local ok, e = results[1], results[2]
    assert.is_false(ok)
    assert.are.equal("XF_EDEADLK", e.name)
    assert.matches("xf.spawn", e.message, 1, true)
    -- Spawned instead, the inner function suspends the task properly.
    f = xf.future()
    assert.are.equal(5, xf.run(function()
      local inner = xf.spawn(function() return xf.await(f) end)
      xf.call_soon(function() f:set_result(5) end)
      return xf.await(inner)
    end))
    -- A done future is no reason to refuse.
    assert.are.equal(5, xf.run(function()
      return select(2, coroutine.resume(coroutine.create(function() return xf.await(f) end)))
    end))
  end)

  it("yield to each other with xf.sleep(0)", function()
    local log = {}
    local function worker(name)
      for i = 1, 3 do
        log[#log + 1] = name .. i
        xf.sleep(0)
      end
    end
    xf.run(function()
      xf.await(xf.gather(function() worker("a") end, function() worker("b") end))
    end)
    assert.are.same({ "a1", "b1", "a2", "b2", "a3", "b3" }, log)
  end)
end)

describe("the loop", function()
  it("runs call_later callbacks in time order and cancels them", function()
    local log = {}
    xf.run(function()
      xf.call_later(0.15, function() log[#log + 1] = "late" end)
      xf.call_later(0.05, function(x) log[#log + 1] = x end, "early")
      local h = xf.call_later(0.10, function() log[#log + 1] = "cancelled" end)
      h:cancel()
      xf.sleep(0.25)
    end)
    assert.are.same({ "early", "late" }, log)
  end)

  it("gathers values in order", function()
    local r = xf.run(function()
      local function after(s, v)
        return xf.spawn(function()
          xf.sleep(s)
          return v
        end)
      end
      return xf.await(xf.gather(after(0.03, 1), after(0.01, 2), after(0.02, 3)))
    end)
    assert.are.same({ 1, 2, 3 }, r)
  end)

  it("gathers errors when asked to", function()
    local r = xf.run(function()
      local bad = xf.spawn(function() error { type = "ValueError", message = "no" } end)
      local good = xf.spawn(function() return "yes" end)
      return xf.await(xf.gather { bad, good, return_exceptions = true })
    end)
    assert.are.equal("ValueError", r[1].type)
    assert.are.equal("yes", r[2])
  end)

  it("fails a gather fast on the first error", function()
    local ok, e = pcall(xf.run, function()
      return xf.await(xf.gather(function() error("first") end, function() xf.sleep(1) end))
    end)
    assert.is_false(ok)
    assert.matches("first", e.message)
  end)

  it("times out with wait_for and cancels the inner future", function()
    local inner
    local ok, e = pcall(xf.run, function()
      -- inner awaits a future nobody finishes: the timeout is the only outcome.
      inner = xf.spawn(function() xf.await(xf.future()) end)
      return xf.await(xf.wait_for(inner, 0.02))
    end)
    assert.is_false(ok)
    assert.are.equal("TimeoutError", e.type)
    xf.sleep(0.01)
    assert.is_true(inner:cancelled())
    local v = xf.run(function()
      return xf.await(xf.wait_for(xf.spawn(function() return "quick" end), 30))
    end)
    assert.are.equal("quick", v)
  end)

  it("shields a future from a cancellation", function()
    local inner = xf.future()
    local outer = xf.shield(inner)
    assert.is_true(outer:cancel())
    assert.is_false(inner:cancelled())
    inner:set_result("Still usable!")
    assert.are.equal("Still usable!", inner:result())
  end)

  it("yields futures as they complete, inside a task and outside", function()
    -- Sleeps alone do not order the completions on a busy machine: each
    -- task, after its sleep, also awaits until the result before it has been
    -- handed out, so the order is the test's (handed[i]: i was handed out).
    local function start(sleeps, after)
      local fs, handed = {}, {}
      for i, s in ipairs(sleeps) do
        handed[i] = xf.future()
        fs[i] = xf.spawn(function()
          xf.sleep(s)
          if after[i] then
            xf.await(handed[after[i]])
          end
          return i
        end)
      end
      return fs, handed
    end
    local order = xf.run(function()
      local fs, handed = start({ 0.15, 0.05, 0.10 }, { [1] = 3, [3] = 2 })
      local out = {}
      for f in xf.as_completed(fs) do
        out[#out + 1] = f:result()
        handed[f:result()]:set_result(true)
      end
      return out
    end)
    assert.are.same({ 2, 3, 1 }, order)
    local fs, handed = start({ 0.10, 0.05 }, { [1] = 2 })
    local out = {}
    for f in xf.as_completed(fs) do
      out[#out + 1] = f:result()
      handed[f:result()]:set_result(true)
    end
    assert.are.same({ 2, 1 }, out)
  end)

  it("times out as_completed", function()
    local slow = xf.future()
    local ok, e = pcall(function()
      for _ in xf.as_completed({ slow }, 0.02) do
      end
    end)
    assert.is_false(ok)
    assert.is_true(xf.is_timeout(e))
  end)

  it("takes the first completed and cancels the rest", function()
    local a, b
    local v = xf.run(function()
      a = xf.spawn(function() xf.sleep(0.01) return "fast" end)
      b = xf.spawn(function() xf.await(xf.future()) return "slow" end) -- never done
      return xf.await(xf.first_completed({ a, b }, true))
    end)
    assert.are.equal("fast", v)
    xf.sleep(0.01)
    assert.is_true(b:cancelled())
  end)

  it("refuses to nest xf.run", function()
    local ok, e = pcall(xf.run, function()
      return xf.run(function() end)
    end)
    assert.is_false(ok)
    assert.matches("already running", e.message)
  end)
end)

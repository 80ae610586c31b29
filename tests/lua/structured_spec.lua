-- Structured concurrency: cancellation sources and tokens, scopes with
-- deadlines (xf.timeout), shielded scopes, and task groups (xf.group).
-- Every wait is on an event (a future), never on time: the only deadlines
-- are the ones under test, and an outer one that must not matter is long.
local xf = require "xfutures"

-- A future that nobody finishes: awaiting it lasts until cancelled.
local function forever()
  return xf.future()
end

describe("cancellation tokens", function()
  it("cancel with a reason that the token and its callbacks see", function()
    local src = xf.cancel_source()
    assert.is_true(xf.is_token(src.token))
    assert.are.equal(src.token, src.token)
    assert.is_false(src.token:cancelled())
    assert.is_nil(src.token:reason())
    local seen = xf.future()
    src.token:on_cancel(function(reason) seen:set_result(reason.message) end)
    assert.is_true(src:cancel("enough"))
    assert.is_false(src:cancel("again")) -- the first reason stays
    assert.is_true(src.token:cancelled())
    assert.is_true(xf.is_cancelled(src.token:reason()))
    assert.are.equal("enough", src.token:reason().message)
    assert.are.equal("enough", seen:result())
  end)

  it("linked to two parents are cancelled by either, with its reason", function()
    local a, b = xf.cancel_source(), xf.cancel_source()
    local child = xf.cancel_source(a.token, b) -- a source stands for its token
    local seen = xf.future()
    child.token:on_cancel(function(reason) seen:set_result(reason.message) end)
    assert.is_false(child.token:cancelled())
    b:cancel("from b")
    assert.is_true(child.token:cancelled())
    assert.are.equal("from b", child.token:reason().message)
    assert.are.equal("from b", seen:result())
    assert.is_false(a.token:cancelled()) -- nothing flows up or sideways
    -- A parent cancelled already cancels the new child at once.
    local late = xf.cancel_source(b.token)
    assert.is_true(late.token:cancelled())
  end)

  it("cancel a lua_pool job: a queued one never runs, a running one sees it", function()
    local pool <close> = xf.lua_pool { workers = 1 }
    local src = xf.cancel_source()
    local started = xf.future()
    local view = pool:with_token(src.token)
    local running = view:submit(function(handle)
      local xf = require "xfutures"
      xf.future_from_handle(handle):set_result(true)
      while not xf.current_token_cancelled() do
      end
      error { type = "CancelledError", message = "stopped on the token" }
    end, started:handle())
    local queued = view:submit(function() return "ran" end)
    assert.is_true(started:result())
    src:cancel("stop")
    local e = running:error()
    assert.is_true(xf.is_cancelled(e))
    assert.are.equal("stopped on the token", e.message)
    assert.is_true(queued:wait())
    assert.is_true(queued:cancelled())
    view:shutdown { wait = false }
  end)
end)

describe("xf.timeout", function()
  it("returns fn's value when it ends in time", function()
    assert.are.equal(42, xf.run(function()
      return xf.timeout(60, function(a) return a * 2 end, 21)
    end))
  end)

  it("raises a TimeoutError for its own deadline; the outer scope sees nothing", function()
    local inner_err
    local v = xf.run(function()
      return xf.timeout(60, function()
        local ok, e = pcall(xf.timeout, 0.01, function() xf.await(forever()) end)
        assert.is_false(ok)
        inner_err = e
        -- The outer scope goes on: what it makes now is not cancelled.
        return xf.await(xf.spawn(function() return "outer done" end))
      end)
    end)
    assert.are.equal("outer done", v)
    assert.is_true(xf.is_timeout(inner_err))
  end)

  it("passes an outer deadline through the inner scope untouched", function()
    local inner_err
    local ok, outer_err = pcall(xf.run, function()
      return xf.timeout(0.01, function()
        local ok2, e = pcall(xf.timeout, 60, function() xf.await(forever()) end)
        inner_err = e
        assert.is_false(ok2)
        error(e, 0)
      end)
    end)
    assert.is_false(ok)
    assert.is_true(xf.is_cancelled(inner_err)) -- not the inner scope's timeout
    assert.is_true(xf.is_timeout(outer_err)) -- the outer owner's own
  end)
end)

describe("xf.or_timeout", function()
  it("fails a free-standing future that is not done in time", function()
    local f = xf.or_timeout(xf.future(), 0.01)
    assert.is_true(xf.is_timeout(f:error()))
    local done = xf.or_timeout(xf.future():set_result(1), 0.01)
    assert.are.equal(1, done:result())
  end)
end)

describe("xf.shield_scope", function()
  it("keeps its work running through the caller's cancellation", function()
    local release = xf.future()
    local inner_done
    local ok, e = pcall(xf.group, function(g)
      g:spawn(function()
        xf.shield_scope(function()
          xf.await(release)
          inner_done = true
        end)
      end)
      g:spawn(function()
        release:set_result(true)
        error { type = "ValueError", message = "sibling failed" }
      end)
    end)
    assert.is_false(ok)
    assert.is_true(inner_done)
    assert.are.equal(1, #e.errors)
  end)
end)

describe("xf.group", function()
  it("cancels the siblings of a failing child and raises exactly the failures", function()
    local ev = forever()
    local fs = {}
    local ok, e = pcall(xf.run, function()
      return xf.group(function(g)
        fs[1] = g:spawn(function() xf.await(ev) end)
        fs[2] = g:spawn(function() error { type = "ValueError", message = "second failed" } end)
        fs[3] = g:spawn(function() xf.await(ev) end)
      end)
    end)
    assert.is_false(ok)
    assert.is_true(xf.is_error(e))
    assert.are.equal("ExceptionGroup", e.type)
    assert.are.equal(1, #e.errors)
    assert.are.equal("ValueError", e.errors[1].type)
    assert.are.equal("second failed", e.errors[1].message)
    -- Every child is done when xf.group returns; the siblings were cancelled.
    assert.is_true(fs[1]:cancelled())
    assert.is_true(fs[3]:cancelled())
    assert.are.equal("finished", fs[2]:state())
  end)

  it("holds every failure in the order the children were added", function()
    local ok, e = pcall(xf.group, function(g)
      -- Added first, fails second: its cancellation makes it raise.
      g:spawn(function()
        pcall(xf.await, forever())
        error { type = "KeyError", message = "added first" }
      end)
      g:spawn(function()
        error { type = "ValueError", message = "failed first" }
      end)
    end)
    assert.is_false(ok)
    assert.are.same({ "KeyError", "ValueError" }, { e.errors[1].type, e.errors[2].type })
    assert.are.equal(2, #e.errors)
  end)

  it("returns the body's value when no child fails", function()
    local results = {}
    local v = xf.run(function()
      return xf.group(function(g)
        for i = 1, 3 do
          g:spawn(function() results[i] = i * i end)
        end
        return "all done"
      end)
    end)
    assert.are.equal("all done", v)
    assert.are.same({ 1, 4, 9 }, results)
  end)

  it("gives lua_pool children the group's token", function()
    local pool <close> = xf.lua_pool { workers = 1 }
    local started = xf.future()
    local fs = {}
    local ok, e = pcall(xf.group, function(g)
      fs[1] = g:submit(pool, function(handle)
        local xf = require "xfutures"
        xf.future_from_handle(handle):set_result(true)
        while not xf.current_token_cancelled() do
        end
        error { type = "CancelledError", message = "stopped on the token" }
      end, started:handle())
      fs[2] = g:submit(pool, function() return "queued" end)
      g:spawn(function()
        xf.await(started)
        error { type = "ValueError", message = "fail" }
      end)
    end)
    assert.is_false(ok)
    assert.are.equal(1, #e.errors)
    assert.are.equal("ValueError", e.errors[1].type)
    assert.is_true(xf.is_cancelled(fs[1]:error()))
    assert.is_true(fs[2]:cancelled())
  end)
end)

-- xf.future_from_handle and fut:handle(): a C future passed by address.
local xf = require "xfutures"

describe("a future's handle", function()
  it("is a stable nonzero integer", function()
    local f = xf.future()
    local h = f:handle()
    assert.are.equal("number", type(h))
    assert.is_true(math.type(h) == "integer" and h ~= 0)
    assert.are.equal(h, f:handle())
  end)

  it("gives back the state's own object for the future", function()
    local f = xf.future()
    assert.are.equal(f, xf.future_from_handle(f:handle()))
  end)

  it("lets another Lua state finish the future on a worker thread", function()
    local pool <close> = xf.lua_pool { workers = 1 }
    local f = xf.future()
    local seen
    f:on_done(function(fut)
      seen = { fut:result(), xf.thread_id() }
    end)
    local job = pool:submit(function(h)
      local x = require "xfutures"
      x.future_from_handle(h):set_result("from a worker")
      return x.thread_id()
    end, f:handle())
    local worker = job:result(10)
    assert.are.equal("from a worker", f:result(10))
    assert.are_not.equal(xf.thread_id(), worker)
    -- The callback is posted to this state's loop: run it until the callback
    -- has run (the bound only ends a hang).
    local deadline = xf.time() + 30
    while not seen and xf.time() < deadline do
      xf.sleep(0.001)
    end
    assert.are.same({ "from a worker", xf.thread_id() }, seen)
  end)

  it("refuses what is not an address", function()
    for _, bad in ipairs { "0x10", 1.5, {}, true } do
      assert.is_false(pcall(xf.future_from_handle, bad))
    end
    assert.is_false(pcall(xf.future_from_handle))
    assert.is_false(pcall(xf.future_from_handle, 0))
  end)
end)

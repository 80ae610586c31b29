-- Callbacks (Lua functions as C function pointers), chain and bounded pools.
local xf = require "xfutures"

describe("xf.callback", function()
  it("runs on the state's thread when a worker calls it", function()
    local main = xf.thread_id()
    local seen = {}
    local cb <close> = xf.callback("int64(int64, int64)", function(a, b)
      seen[#seen + 1] = xf.thread_id()
      return a + b
    end)
    assert.is_true(xf.is_callback(cb))
    assert.are.equal("int64(int64, int64)", cb.signature)
    assert.are.equal("userdata", type(cb.pointer))
    assert.are.equal("integer", math.type(cb.address))
    local pool <close> = xf.thread_pool { max_workers = 2 }
    local fs = {}
    for i = 1, 4 do
      fs[i] = pool:submit_native(cb, cb.signature, i, 10)
    end
    for i = 1, 4 do
      assert.are.equal(i + 10, fs[i]:result(5))
    end
    assert.are.same({ main, main, main, main }, seen)
  end)

  it("converts arguments and results by the signature", function()
    local cb <close> = xf.callback("double(int32, double, string)", function(i, d, s)
      assert.are.equal("integer", math.type(i))
      return i * d + #s
    end)
    local pool <close> = xf.thread_pool { max_workers = 1 }
    assert.are.equal(7.5, pool:submit_native(cb, cb.signature, 3, 1.5, "abc"):result(5))
    local whole <close> = xf.callback("int32(void)", function() return 4.0 end)
    assert.are.equal(4, pool:submit_native(whole, whole.signature):result(5))
  end)

  it("hands an error to the exception handler and returns zero", function()
    local reported
    xf.set_exception_handler(function(message, err) reported = err end)
    local cb <close> = xf.callback("int64(int64)", function() error("boom") end)
    local pool <close> = xf.thread_pool { max_workers = 1 }
    assert.are.equal(0, pool:submit_native(cb, cb.signature, 1):result(5))
    xf.sleep(0.02)
    xf.set_exception_handler(nil)
    assert.is_not_nil(reported)
    assert.matches("boom", reported.message)
  end)

  it("rejects bad signatures and functions", function()
    assert.has_error(function() xf.callback("int33(int)", function() end) end)
    assert.has_error(function() xf.callback("int(int)", 3) end)
  end)

  it("names the call and the place in a bad signature's error", function()
    local ok, e = pcall(xf.callback, "int33(int)", function() end)
    assert.is_false(ok)
    assert.are.equal("ValueError", e.type)
    assert.are.equal("XF_EINVAL", e.name)
    assert.are.equal('callback: bad signature: expected a type at offset 0: "int33"',
                     e.message)
    local pool <close> = xf.thread_pool { max_workers = 1 }
    ok, e = pcall(pool.submit_native, pool, xf.dlsym(nil, "labs"), "int64(int33)", 1)
    assert.is_false(ok)
    assert.are.equal("ValueError", e.type)
    assert.are.equal("XF_EINVAL", e.name)
    assert.are.equal('submit_native: bad signature: expected a type at offset 6: "int33"',
                     e.message)
  end)

  it("is released by close", function()
    local cb = xf.callback("void()", function() end)
    cb:close()
    assert.is_nil(cb.pointer)
    cb:close()
  end)
end)

describe("xf.chain", function()
  it("copies the outcome and lets cancellation flow back", function()
    local a, b = xf.future(), xf.future()
    xf.chain(a, b)
    a:set_result { 1, 2 }
    assert.are.same({ 1, 2 }, b:result(1))
    local c, d = xf.future(), xf.future()
    xf.chain(c, d)
    assert.is_true(d:cancel())
    assert.are.equal("cancelled", c:state())
  end)
end)

describe("a bounded thread pool", function()
  local usleep = assert(xf.dlsym(nil, "usleep"))

  it("rejects a submission when full with the reject policy", function()
    local pool <close> = xf.thread_pool { max_workers = 1, max_queue = 1, queue_policy = "reject" }
    -- a holds the only worker until this state runs its loop (which answers
    -- the callback), so the queue's one place is free until b takes it.
    local hold <close> = xf.callback("int32()", function() return 0 end)
    local a = pool:submit_native(hold, hold.signature)
    local deadline = xf.time() + 30 -- only ends a hang
    while a:state() == "pending" and xf.time() < deadline do
    end
    assert.are.equal("running", a:state())
    local b = pool:submit_native(usleep, "int(uint32)", 1000)
    local ok, e = pcall(pool.submit_native, pool, usleep, "int(uint32)", 1000)
    assert.is_false(ok)
    assert.is_true(xf.is_queue_full(e))
    assert.are.equal("QueueFull", e.type)
    assert.are.equal(0, b:result(5))
    assert.are.equal(0, a:result(5))
  end)

  it("makes submit wait with the block policy", function()
    local pool <close> = xf.thread_pool { max_workers = 1, max_queue = 1, queue_policy = "block" }
    local a = pool:submit_native(usleep, "int(uint32)", 100000)
    xf.sleep(0.03)
    pool:submit_native(usleep, "int(uint32)", 1000)
    local c = pool:submit_native(usleep, "int(uint32)", 1000)
    assert.is_true(a:done())
    assert.are.equal(0, c:result(5))
  end)

  it("rejects a bad policy", function()
    assert.has_error(function() xf.thread_pool { max_queue = 1, queue_policy = "drop" } end)
  end)
end)

-- Futures: states, results, errors, callbacks and how values cross.
local xf = require "xfutures"

describe("a future", function()
  it("starts pending and holds a value once set", function()
    local f = xf.future()
    assert.is_false(f:done())
    assert.are.equal("pending", f:state())
    f:set_result(42)
    assert.is_true(f:done())
    assert.are.equal("finished", f:state())
    assert.are.equal(42, f:result())
    assert.is_nil(f:error())
  end)

  it("refuses to be set twice", function()
    local f = xf.future():set_result(1)
    local ok, e = pcall(f.set_result, f, 2)
    assert.is_false(ok)
    assert.are.equal("InvalidStateError", e.type)
    assert.are.equal(1, f:result())
  end)

  it("raises its error as a table with type, message and __tostring", function()
    local f = xf.future()
    f:set_error { type = "ValueError", message = "bad input" }
    local ok, e = pcall(f.result, f)
    assert.is_false(ok)
    assert.is_true(xf.is_error(e))
    assert.are.equal("ValueError", e.type)
    assert.are.equal("bad input", e.message)
    assert.are.equal("ValueError: bad input", tostring(e))
    assert.are.equal("ValueError", f:error().type)
  end)

  it("takes a string as an error", function()
    local f = xf.future():set_error("plain")
    assert.are.equal("plain", f:error().message)
    assert.are.equal("LuaError", f:error().type)
  end)

  it("refuses nil as an error, and stays pending", function()
    local f = xf.future()
    local ok, e = pcall(f.set_error, f, nil)
    assert.is_false(ok)
    assert.are.equal("string", type(e))
    assert.truthy(e:find("set_error", 1, true))
    assert.truthy(e:find("nil", 1, true))
    assert.are.equal("pending", f:state())
  end)

  it("times out waiting for a result", function()
    local f = xf.future()
    local t0 = xf.time()
    local ok, e = pcall(f.result, f, 0.05)
    assert.is_false(ok)
    assert.is_true(xf.is_timeout(e))
    assert.is_true(xf.time() - t0 >= 0.04)
  end)

  it("can be cancelled while pending, not after", function()
    local f = xf.future()
    assert.is_true(f:cancel())
    assert.is_true(f:cancelled())
    local ok, e = pcall(f.result, f)
    assert.is_false(ok)
    assert.is_true(xf.is_cancelled(e))
    local g = xf.future():set_result(1)
    assert.is_false(g:cancel())
  end)

  it("runs done callbacks once each, in order, with the future", function()
    local f, seen = xf.future(), {}
    f:on_done(function(g) seen[#seen + 1] = { "a", g } end)
    f:on_done(function(g) seen[#seen + 1] = { "b", g } end)
    f:set_result("x")
    xf.sleep(0.01) -- runs the loop
    assert.are.equal(2, #seen)
    assert.are.equal("a", seen[1][1])
    assert.are.equal("b", seen[2][1])
    assert.are.equal(f, seen[1][2])
    -- added to a done future: runs soon, too
    f:on_done(function() seen[#seen + 1] = { "c" } end)
    xf.sleep(0.01)
    assert.are.equal(3, #seen)
  end)

  it("removes callbacks and says how many", function()
    local f, ran = xf.future(), 0
    local cb = function() ran = ran + 1 end
    f:on_done(cb)
    f:on_done(cb)
    assert.are.equal(2, f:remove_on_done(cb))
    assert.are.equal(0, f:remove_on_done(cb))
    f:set_result(nil)
    xf.sleep(0.01)
    assert.are.equal(0, ran)
  end)

  it("rejects bad input with errors, not crashes", function()
    assert.has_error(function() xf.future():on_done(5) end)
    assert.has_error(function() xf.future().result(5) end)
    assert.has_error(function() xf.await(5) end)
    assert.has_error(function() xf.gather(1, 2) end)
    -- A table that contains itself is no error: it crosses as an opaque
    -- handle (values_spec.lua).
    local cyclic = {}
    cyclic[1] = cyclic
    assert.are.equal(cyclic, xf.future():set_result(cyclic):result())
  end)
end)

describe("values", function()
  local function through(v)
    return xf.future():set_result(v):result()
  end

  it("keep integers integers and floats floats", function()
    assert.are.equal("integer", math.type(through(5)))
    assert.are.equal(5, through(5))
    assert.are.equal(math.maxinteger, through(math.maxinteger))
    assert.are.equal(math.mininteger, through(math.mininteger))
    assert.are.equal("float", math.type(through(5.0)))
    assert.are.equal(2.5, through(2.5))
    local inf = through(math.huge)
    assert.are.equal(math.huge, inf)
    local list = through { 1, 2.0, 3 }
    assert.are.equal("integer", math.type(list[1]))
    assert.are.equal("float", math.type(list[2]))
  end)

  it("carry nil, booleans and byte strings", function()
    assert.is_nil(through(nil))
    assert.is_true(through(true))
    assert.is_false(through(false))
    local bytes = "a\0b\255\254c"
    assert.are.equal(bytes, through(bytes))
    assert.are.equal("héllo", through("héllo"))
    assert.are.equal(xf.core.KIND_BYTES, xf.core.value_kind("\255"))
    assert.are.equal(xf.core.KIND_STRING, xf.core.value_kind("abc"))
  end)

  it("turn sequence tables into lists, which come back as the same table", function()
    local t = { 1, "two", { 3, { 4 } }, true }
    local back = through(t)
    assert.are.equal(t, back)
    assert.are.same({ 1, "two", { 3, { 4 } }, true }, back)
    assert.are.equal(xf.core.KIND_LIST, xf.core.value_kind(t))
    assert.are.same({}, through {})
  end)

  it("turn other plain tables into maps and keep tables with metatables and functions as objects", function()
    local obj = { name = "x" }
    local fn = function() end
    local withmt = setmetatable({ 1, 2 }, {})
    assert.are.equal(obj, through(obj))
    assert.are.equal(fn, through(fn))
    assert.are.equal(withmt, through(withmt))
    local nested = through { obj, fn }
    assert.are.same(obj, nested[1])
    assert.are.equal(fn, nested[2])
    assert.are.equal("map", (xf.core_repr(xf.future():set_result(obj))))
    assert.are.equal(xf.core.KIND_OBJECT, xf.core.value_kind(withmt))
  end)
end)

describe("waiting on the running loop's own thread", function()
  it("raises DeadlockError at once instead of blocking", function()
    -- Inside a task the loop is running on this thread; the other task is
    -- pending and only this loop can finish it.
    local got = xf.run(function()
      local other = xf.spawn(function() xf.sleep(3600) end)
      local ok, e = pcall(other.result, other, 30)
      other:cancel()
      assert(not ok, "result() returned instead of raising")
      assert(xf.is_error(e), tostring(e))
      return e.type
    end)
    assert.are.equal("DeadlockError", got)
  end)
end)

-- The value policy (README, "The value policy"): each Lua value crosses as
-- the core kind of the table, the core's own rendering of it (xf.core_repr)
-- is the judge, and a value given back to this state is the very same one.
local xf = require "xfutures"

local function set(v)
  return xf.future():set_result(v)
end

-- The kind and the C rendering of what the core holds once Lua set v.
local function core_of(v)
  return xf.core_repr(set(v))
end

local function expect_core(v, kind, repr)
  local k, r = core_of(v)
  assert.are.equal(kind, k)
  assert.are.equal(repr, r)
end

describe("primitives cross as the core's kinds", function()
  it("nil, booleans", function()
    expect_core(nil, "void", "none")
    expect_core(true, "bool", "true")
    expect_core(false, "bool", "false")
  end)

  it("integers, including 2^53+1 and the int64 limits", function()
    expect_core(42, "int", "42")
    expect_core(9007199254740993, "int", "9007199254740993")
    expect_core(math.maxinteger, "int", "9223372036854775807")
    expect_core(math.mininteger, "int", "-9223372036854775808")
    assert.are.equal(9007199254740993, set(9007199254740993):result())
    assert.are.equal("integer", math.type(set(math.mininteger):result()))
  end)

  it("floats, including -0.0, NaN and the infinities", function()
    expect_core(2.5, "double", "2.5")
    expect_core(1.0, "double", "1.0")
    expect_core(-0.0, "double", "-0.0")
    expect_core(0 / 0, "double", "nan")
    expect_core(math.huge, "double", "inf")
    expect_core(-math.huge, "double", "-inf")
    local z = set(-0.0):result()
    assert.are.equal("float", math.type(z))
    assert.are.equal(-math.huge, 1 / z)
    local nan = set(0 / 0):result()
    assert.is_true(nan ~= nan)
  end)

  it("strings with NUL bytes and non-ASCII text; other bytes as bytes", function()
    expect_core("héllo", "string", '"héllo"')
    expect_core("a\0b", "string", '"a\\u0000b"')
    expect_core("", "string", '""')
    expect_core("\255\0", "bytes", 'b"ff00"')
    assert.are.equal("a\0b", set("a\0b"):result())
  end)

  it("bytes on request, including empty bytes, read back as Lua strings", function()
    expect_core(xf.bytes(""), "bytes", 'b""')
    expect_core(xf.bytes("ab"), "bytes", 'b"6162"')
    assert.are.equal("", set(xf.bytes("")):result())
    assert.are.equal("ab", set(xf.bytes("ab")):result())
  end)

  it("xf.null as the null pointer", function()
    expect_core(xf.null, "pointer", "pointer")
    assert.are.equal(xf.null, set(xf.null):result())
  end)
end)

describe("plain tables cross as data", function()
  it("a sequence as a list, an empty table as an empty list", function()
    expect_core({ 1, "two", { 3.5, { true } } }, "list", '[1, "two", [3.5, [true]]]')
    expect_core({}, "list", "[]")
  end)

  it("a table with other keys as a map, its keys in a fixed order", function()
    expect_core({ a = 1 }, "map", '{"a": 1}')
    expect_core({ b = 2, a = 1, [2] = "y", [1.5] = "x", [true] = 0 }, "map",
      '{1.5: "x", 2: "y", "a": 1, "b": 2, true: 0}')
    expect_core({ 1, nil, 3 }, "map", "{1: 1, 3: 3}")
    expect_core({ 1, 2, n = 2 }, "map", '{1: 1, 2: 2, "n": 2}')
    expect_core({ list = { 1, 2 }, map = { k = "v" } }, "map",
      '{"list": [1, 2], "map": {"k": "v"}}')
  end)

  it("a map made by another state reads as a plain table", function()
    local pool <close> = xf.lua_pool { workers = 1 }
    local got = pool:submit(function()
      return { a = 1, nested = { x = { 1, 2 } }, [3] = "three" }
    end):result()
    assert.are.same({ a = 1, nested = { x = { 1, 2 } }, [3] = "three" }, got)
    local echoed = pool:submit(function(t) return t end, { k = "v", [1] = 2 }):result()
    assert.are.same({ k = "v", [1] = 2 }, echoed)
  end)
end)

describe("a value given back to this state keeps its identity", function()
  it("the same table from f:result() after f:set_result(t)", function()
    for _, t in ipairs { { 1, 2 }, { a = 1 }, {} } do
      assert.are.equal(t, set(t):result())
    end
  end)

  it("the same tables through gather and a task", function()
    local a, b = { 1 }, { k = "v" }
    local got = xf.gather(set(a), set(b)):result()
    assert.are.equal(a, got[1])
    assert.are.equal(b, got[2])
    local t = { x = 1 }
    assert.are.equal(t, xf.spawn(function() return t end):result())
  end)

  it("a table holding a function, set on two futures", function()
    local t = { k = print, 1 }
    local f, g = set(t), set(t)
    assert.are.equal(t, f:result())
    assert.are.equal(t, g:result())
  end)

  it("two empty tables each as itself", function()
    local a, b = {}, {}
    local f, g = set(a), set(b)
    assert.are.equal(a, f:result())
    assert.are.equal(b, g:result())
  end)

  it("the same table set on two futures", function()
    local t = { 1, 2 }
    local f, g = set(t), set(t)
    assert.are.equal(t, f:result())
    assert.are.equal(t, g:result())
  end)

  it("a copy once the table changed after it was set, and the core keeps the old contents", function()
    local t = { 1 }
    local f = set(t)
    t[2] = 2
    local g = set(t)
    assert.are.equal(t, g:result())
    local _, r = xf.core_repr(f)
    assert.are.equal("[1]", r)
  end)
end)

describe("what cannot be data crosses as an opaque handle that comes back as itself", function()
  local function opaque(v)
    expect_core(v, "object", "object(lua)")
    assert.are.equal(v, set(v):result())
  end

  it("functions, coroutines and userdata", function()
    opaque(function() end)
    opaque(coroutine.create(function() end))
    opaque(io.stdout)
  end)

  it("a table with a metatable", function()
    opaque(setmetatable({ 1, 2 }, {}))
    opaque(setmetatable({ a = 1 }, { __index = {} }))
  end)

  it("a table that contains itself, or has a key that is not data", function()
    local cyc = {}
    cyc[1] = cyc
    opaque(cyc)
    local deep = { { cyc } }
    opaque(deep)
    opaque { [{}] = 1 }
    opaque { [print] = 1 }
  end)

  it("an argument of a lua_pool task that cannot be data is one opaque argument", function()
    local pool <close> = xf.lua_pool { workers = 1 }
    local cyc = {}
    cyc[1] = cyc
    local got = pool:submit(function(a, b) return { type(a), b } end, cyc, { k = 2 }):result()
    assert.are.same({ "userdata", { k = 2 } }, got)
    assert.are.equal(cyc, pool:submit(function(a) return a end, cyc):result())
  end)

  it("an opaque item inside data", function()
    local fn = function() end
    expect_core({ fn, { k = fn } }, "list", '[object(lua), {"k": object(lua)}]')
    local back = set({ fn, { k = fn } }):result()
    assert.are.equal(fn, back[1])
    assert.are.equal(fn, back[2].k)
  end)
end)

describe("core_repr", function()
  it("renders an error outcome, and refuses a pending future", function()
    local f = xf.future():set_error { type = "ValueError", message = "bad" }
    local k, r = xf.core_repr(f)
    assert.are.equal("error", k)
    assert.are.equal("error(ValueError: bad)", r)
    local ok, e = pcall(xf.core_repr, xf.future())
    assert.is_false(ok)
    assert.are.equal("InvalidStateError", e.type)
  end)
end)

-- fd readiness on the state's loop: xf.add_reader and xf.remove_reader,
-- which are the core loop's. The descriptors come from lua-luv (a pipe, a
-- regular file), read and written with its synchronous calls.
local xf = require "xfutures"
-- The live counters come from the tests' C module, not the binding.
local testlib = require "xfl_testlib"
local uv = require "luv"

local function pipe()
  local fds = assert(uv.pipe())
  return fds.read, fds.write
end

local function close(...)
  for _, fd in ipairs { ... } do
    uv.fs_close(fd)
  end
end

describe("readers", function()
  it("call the function with the fd each time it is readable, until removed", function()
    local r, w = pipe()
    local got, done = {}, xf.future()
    xf.add_reader(r, function(fd)
      got[#got + 1] = { fd, uv.fs_read(fd, 64) }
      if #got == 1 then
        uv.fs_write(w, "two") -- readable again, after this call
      else
        assert.is_true(xf.remove_reader(fd))
        done:set_result(true)
      end
    end)
    uv.fs_write(w, "one")
    xf.run(done)
    assert.are.same({ { r, "one" }, { r, "two" } }, got)
    -- Removed: data waiting in the pipe reaches no reader any more.
    uv.fs_write(w, "three")
    xf.core.run_once(false)
    assert.are.equal("three", uv.fs_read(r, 64))
    assert.is_false(xf.remove_reader(r))
    close(r, w)
  end)

  it("are replaced by a second reader on the same fd", function()
    local r, w = pipe()
    local calls, done = {}, xf.future()
    xf.add_reader(r, function()
      calls[#calls + 1] = "first"
    end)
    xf.add_reader(r, function(fd)
      calls[#calls + 1] = "second"
      uv.fs_read(fd, 64)
      xf.remove_reader(fd)
      done:set_result(true)
    end)
    uv.fs_write(w, "x")
    xf.run(done)
    assert.are.same({ "second" }, calls)
    close(r, w)
  end)

  it("hand an error of the function to the exception handler and stay", function()
    local r, w = pipe()
    local reports, done = {}, xf.future()
    xf.set_exception_handler(function(message, err)
      reports[#reports + 1] = { message, err and err.message }
      done:set_result(true)
    end)
    xf.add_reader(r, function(fd)
      uv.fs_read(fd, 64)
      error("reader failed", 0)
    end)
    uv.fs_write(w, "x")
    xf.run(done)
    xf.set_exception_handler(nil)
    assert.are.same({ { "exception in a reader callback", "reader failed" } }, reports)
    assert.is_true(xf.remove_reader(r))
    close(r, w)
  end)

  it("refuse a bad descriptor or a bad function with an error", function()
    local ok, e = pcall(xf.add_reader, -1, function() end)
    assert.is_false(ok)
    assert.are.equal(xf.core.EINVAL, e.code)
    ok, e = pcall(xf.remove_reader, -1)
    assert.is_false(ok)
    assert.are.equal(xf.core.EINVAL, e.code)
    -- The kernel cannot watch a regular file.
    local path = os.tmpname()
    local fd = assert(uv.fs_open(path, "r", 0))
    ok, e = pcall(xf.add_reader, fd, function() end)
    assert.is_false(ok)
    assert.are.equal(xf.core.ESYS, e.code)
    assert.is_false(xf.remove_reader(fd))
    close(fd)
    os.remove(path)
    assert.has_error(function()
      xf.add_reader(0, "not a function")
    end)
  end)

  it("hold no reference once removed", function()
    local r, w = pipe()
    local before = select(2, testlib.live())
    xf.add_reader(r, function() end)
    assert.are.equal(before + 1, select(2, testlib.live()))
    xf.remove_reader(r)
    assert.are.equal(before, select(2, testlib.live()))
    close(r, w)
  end)
end)

-- Ending a script while C threads call its callbacks: never a crash, never a
-- hang. Each case runs a script in a fresh lua5.4 under timeout(1), so that
-- a hang shows as exit code 124 and a crash as a signal.
local lua = os.getenv("XF_LUA") or "lua5.4"

-- Run script; returns its stdout, its stderr, and how it ended ("exit" or
-- "signal") with the code.
local function run(script)
  local errfile = os.tmpname()
  local command = string.format("timeout -k 5 60 %s -e '%s' 2>%s", lua,
    script:gsub("'", "'\\''"), errfile)
  local p = assert(io.popen(command))
  local out = p:read("a")
  local _, how, code = p:close()
  local f = assert(io.open(errfile))
  local err = f:read("a")
  f:close()
  os.remove(errfile)
  return out, err, how, code
end

local function count(s, pattern)
  local n = 0
  for _ in s:gmatch(pattern) do
    n = n + 1
  end
  return n
end

describe("a script ending while a C thread calls its callback", function()
  -- Two C threads call the callback in a loop from before the script ends
  -- until the process is gone; the script first waits until they have been
  -- answered, so that calls are in flight when the state closes.
  local function script(ending)
    return [[
      local xf = require "xfutures"
      local lib = require "xfl_testlib"
      local cb = xf.callback("int64(int64)", function(x) return x + 1 end)
      lib.hammer(cb.address)
      lib.hammer(cb.address)
      while lib.calls() < 200 do xf.sleep(0) end
      print("closing")
    ]] .. ending
  end

  it("never crashes nor hangs, 50 times in a row", function()
    local endings = {
      { "", 0 },
      { "error('the script fails')", 1 },
    }
    for i = 1, 50 do
      local ending = endings[i % 2 + 1]
      local out, err, how, code = run(script(ending[1]))
      local where = string.format("run %d (%s): %s %s\n%s", i, ending[1], how, code, err)
      assert.are.equal("exit", how, where)
      assert.are.equal(ending[2], code, where)
      -- The calls made after the state closed got the default value...
      assert.are.equal("closing\nafter close: 0 0\n", out, where)
      -- ...and were reported once.
      assert.are.equal(1, count(err, "called after its owner was released"), where)
    end
  end)
end)

describe("a script ending while a pool thread waits for a callback", function()
  local start = [[
    local xf = require "xfutures"
    local cb = xf.callback("int64(int64)", function(x) return x * 2 end)
    local pool = xf.thread_pool { max_workers = 1 }
    local f = pool:submit_native(cb, cb.signature, 21)
    print("closing")
  ]]

  it("at the end of the chunk", function()
    local out, err, how, code = run(start)
    assert.are.same({ "exit", 0, "closing\n" }, { how, code, out }, err)
  end)

  it("through os.exit(true, true)", function()
    local out, err, how, code = run(start .. "os.exit(true, true)")
    assert.are.same({ "exit", 0, "closing\n" }, { how, code, out }, err)
  end)

  it("leaving a <close> scope of the pool: the callback runs", function()
    local out, err, how, code = run([[
      local xf = require "xfutures"
      local cb = xf.callback("int64(int64)", function(x) return x * 2 end)
      local f
      do
        local pool <close> = xf.thread_pool { max_workers = 1 }
        f = pool:submit_native(cb, cb.signature, 21)
      end
      print(f:done(), f:result())
    ]])
    assert.are.same({ "exit", 0, "true\t42\n" }, { how, code, out }, err)
  end)
end)

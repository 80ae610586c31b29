-- The seed programs in Lua form (examples/lua), run as scripts and checked
-- against what the seeds say they print.
local lua = os.getenv("XF_LUA") or "lua5.4"
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
local examples = here .. "/../../examples/lua/"

local drivers = here .. "/../../examples/drivers/"

local function run(name)
  -- An example that needs a client (a server) runs under its driver.
  local command = lua .. " " .. examples .. name
  local driver = drivers .. name:gsub("%.lua$", ".sh")
  local f = io.open(driver)
  if f then
    f:close()
    command = driver .. " " .. command
  end
  local p = assert(io.popen(command .. " 2>&1"))
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

local expected = {
  ["01_future_await"] = {
    "bar will sleep for 0.1 seconds",
    "foo will await the future",
    "bar resolving the future",
    "foo finds the future resolved: future is resolved",
    "main exiting",
  },
  ["02_pool_as_completed"] = { "1", "2", "3", "4", "5", "6", "7", "8", "9", "10" },
  ["03_offload_gather"] = { "[0, 900, 990000]" },
  ["08_timeout"] = {
    "Future timed out after 0.05 seconds",
    "The original future was cancelled: True",
    "Result: in time",
  },
  ["10_first_completed"] = { "First completed: fast", "slow cancelled: True",
    "medium cancelled: True" },
  ["13_cancel_propagation"] = { "Waiter was cancelled", "Future cancelled: True" },
  ["14_shield"] = {
    "Shielded waiter was cancelled",
    "But future was not: True",
    "Future cancelled: False",
    "Future result: Still usable!",
  },
}

-- Every example (scripts/demo.sh checks that each prints the same lines in
-- every language); a few against what the seeds say they print.
local names = {}
local ls = assert(io.popen("ls " .. examples))
for file in ls:lines() do
  local name = file:match("^(.+)%.lua$")
  if name then
    names[#names + 1] = name
  end
end
ls:close()
table.sort(names)

describe("the seed programs", function()
  for _, name in ipairs(names) do
    it("run " .. name, function()
      local out = lines(run(name .. ".lua"))
      if expected[name] then
        assert.are.same(expected[name], out)
      else
        assert.is_true(#out > 0)
      end
    end)
  end
end)

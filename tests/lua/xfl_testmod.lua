-- A module that the lua_pool tests load by name in the worker states.
local M = {}

function M.add(a, b)
  return a + b
end

function M.where()
  return require("xfutures_core").thread_id()
end

function M.two(a)
  return a, "m"
end

function M.fail(message)
  error({ type = "ValueError", message = message })
end

return M

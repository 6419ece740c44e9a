-- wrk script: every request carries the next Cookie from a file (one "name=value" per line), so
-- the load spreads over many sessions instead of one hot cache entry. The headers given with -H
-- are kept.
--
--   wrk ... -s bench/rotate-cookies.lua URL -- <cookie file> [<stop after N responses>]
--
-- With a limit the thread stops itself after N responses and says so on stderr (wrk has no
-- request-count option, and its main thread sleeps out -d regardless); bench/wrk.ts then sends
-- wrk SIGINT, which ends the run early and still prints the report.

local cookies = {}
local next_index = 0
local limit = 0
local responses = 0

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then cookies[#cookies + 1] = line end
  end
  if #cookies == 0 then error("no cookies in " .. tostring(args[1])) end
  limit = tonumber(args[2] or "0") or 0
  if limit > 0 then
    response = function()
      responses = responses + 1
      if responses == limit then
        io.stderr:write("rotate-cookies: limit reached\n")
        io.stderr:flush()
        wrk.thread:stop()
      end
    end
  end
end

function request()
  next_index = next_index % #cookies + 1
  local headers = {}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  headers["Cookie"] = cookies[next_index]
  return wrk.format(nil, nil, headers)
end

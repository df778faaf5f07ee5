-- make bench's load (wrk, a C load generator: at tens of thousands of requests a
-- second an in-process Node client becomes part of what is measured). One
-- thread. Each request's path comes from a trace file that loadtest/bench/wrk.ts
-- writes from the traffic model (WRK_TRACE, one path per line, read from line
-- WRK_OFFSET + 1 and wrapping around when WRK_WRAP=1, else the run stops at its
-- end), or is WRK_PATH for every request. A run stops after WRK_MAX requests
-- even if its time (wrk -d) has not run out. WRK_BODY=create sends the create
-- case's POST with a new URL each time. done() prints one JSON line on stderr.
local method = os.getenv("WRK_METHOD") or "GET"
local fixed_path = os.getenv("WRK_PATH")
local trace_file = os.getenv("WRK_TRACE")
local offset = tonumber(os.getenv("WRK_OFFSET") or "0")
local wrap = os.getenv("WRK_WRAP") == "1"
local create = os.getenv("WRK_BODY") == "create"
local max = tonumber(os.getenv("WRK_MAX") or "3000000")
local headers = {}
if create then
  headers["Authorization"] = "Bearer " .. os.getenv("WRK_TOKEN")
  headers["Content-Type"] = "application/json"
end

local paths, count, i, fixed, created, sent = {}, 0, 0, nil, 0, 0

function init(args)
  if trace_file then
    for line in io.lines(trace_file) do
      count = count + 1
      paths[count] = line
    end
    i = offset % count
  elseif not create then
    fixed = wrk.format(method, fixed_path)
  end
  math.randomseed(os.time())
end

function request()
  sent = sent + 1
  if sent > max then wrk.thread:stop() end
  if fixed then return fixed end
  if create then
    created = created + 1
    local body = string.format('{"url":"https://example.com/c/%d-%d"}', math.random(1, 2147483647), created)
    return wrk.format("POST", fixed_path, headers, body)
  end
  i = i + 1
  if i > count then
    if not wrap then wrk.thread:stop() end
    i = 1
  end
  return wrk.format(method, paths[i])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.stderr:write(string.format(
    '{"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50Us":%d,"p99Us":%d,"maxUs":%d,"meanUs":%.1f}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean))
end

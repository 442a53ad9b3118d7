-- wrk script of the HTTP benchmark (benches/http.rs runs it; not run by hand).
--
-- Every request is the same: a GET, or a POST of the body in the file named
-- by VK_WRK_BODY_FILE (headers come from wrk's -H options). Every reply is
-- checked: its status must be 200 and its body must contain each line of
-- VK_WRK_EXPECT (e.g. `"isError":false`), with a plain substring search so
-- the client spends as little CPU as it can beside the server. done() prints
-- one line the harness reads:
--   VK_WRK requests=N ok=N bad_status=N bad_body=N errors=N duration_us=N
--          p50_us=N p95_us=N p99_us=N min_us=N max_us=N

local body_file = os.getenv("VK_WRK_BODY_FILE")
if body_file and body_file ~= "" then
  local file = assert(io.open(body_file, "rb"))
  wrk.method = "POST"
  wrk.body = file:read("*a")
  file:close()
end

local expect = {}
for line in string.gmatch(os.getenv("VK_WRK_EXPECT") or "", "[^\n]+") do
  table.insert(expect, line)
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

ok = 0
bad_status = 0
bad_body = 0

function response(status, headers, body)
  if status ~= 200 then
    bad_status = bad_status + 1
    return
  end
  for _, text in ipairs(expect) do
    if not string.find(body, text, 1, true) then
      bad_body = bad_body + 1
      return
    end
  end
  ok = ok + 1
end

function done(summary, latency, requests)
  local total = { ok = 0, bad_status = 0, bad_body = 0 }
  for _, thread in ipairs(threads) do
    for name, _ in pairs(total) do
      total[name] = total[name] + thread:get(name)
    end
  end
  local e = summary.errors
  io.write(string.format(
    "VK_WRK requests=%d ok=%d bad_status=%d bad_body=%d errors=%d duration_us=%d "
      .. "p50_us=%d p95_us=%d p99_us=%d min_us=%d max_us=%d\n",
    summary.requests, total.ok, total.bad_status, total.bad_body,
    e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.min, latency.max))
end

-- wrk's hooks for scripts/loadtest (wrk's SCRIPTING guide: setup, init, request, response, done).
-- Each request is one signed-in admin's in turn: its session cookie and, in the path, its organization.
-- Env: WRK_PATH ("/healthz", "/", "/o/{org}/service-status/"), WRK_SESSIONS (lines "cookie<TAB>session<TAB>org";
-- empty: no cookie), WRK_STATUS (the status that counts as success: wrk follows no redirect, so the front door's
-- 302 is its answer), WRK_TEXT (a substring the body, or a 302's Location, must hold), WRK_NAME (the phase).
local path = os.getenv("WRK_PATH")
local sessions_file = os.getenv("WRK_SESSIONS") or ""
local expected_status = tonumber(os.getenv("WRK_STATUS") or "200")
local expected_text = os.getenv("WRK_TEXT") or ""
local name = os.getenv("WRK_NAME") or path

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local requests = {}
local next_request = 1
unexpected = 0

function init(args)
  if sessions_file == "" then
    requests[1] = wrk.format("GET", path)
    return
  end
  for line in io.lines(sessions_file) do
    local cookie, session, org = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)$")
    local headers = { Cookie = cookie .. "=" .. session }
    requests[#requests + 1] = wrk.format("GET", (path:gsub("{org}", org)), headers)
  end
end

function request()
  local r = requests[next_request]
  next_request = next_request % #requests + 1
  return r
end

function response(status, headers, body)
  local answer = status == 302 and (headers["Location"] or "") or (body or "")
  if status ~= expected_status or (expected_text ~= "" and not answer:find(expected_text, 1, true)) then
    unexpected = unexpected + 1
  end
end

function done(summary, latency, _)
  local wrong = 0
  for _, thread in ipairs(threads) do
    wrong = wrong + thread:get("unexpected")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"name": "%s", "requests": %d, "seconds": %.3f, "rps": %.1f, "p50_ms": %.1f, "p99_ms": %.1f, '
      .. '"unexpected": %d, "socket_errors": %d}\n',
    name, summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, wrong,
    e.connect + e.read + e.write + e.timeout
  ))
end

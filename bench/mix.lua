-- wrk script for bench/list_endpoints.py: the frontend-like mix of issue 12, request by request
-- at random: 70% POST /api/study_sessions, 20% POST a review, 5% GET /api/study_sessions?per_page=10,
-- 5% GET /api/dashboard/quick_stats.
--
--   wrk -t2 -c256 -d15s --latency -s bench/mix.lua http://127.0.0.1:PORT -- GROUPS ACTIVITIES WORDS FIRST_SESSION LAST_SESSION [WEIGHTS]
--
-- WEIGHTS, optional, gives the four kinds' shares in that order as comma-separated integers
-- (default 70,20,5,5); 0,100,0,0 sends reviews only, to measure one kind alone.
--
-- Every body names ids that exist: groups 1..GROUPS, activities 1..ACTIVITIES, words 1..WORDS and
-- sessions FIRST_SESSION..LAST_SESSION (the history the bench loaded), so every answer should be
-- 2xx. done() prints one line "BENCH_RESULT {json}": requests, statuses, wrk's errors, latency
-- percentiles (in microseconds, -1 when the rank falls among wrk's timeouts).

local threads = {}

function setup(thread)
   thread:set("thread_number", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   groups = tonumber(args[1]) or 3
   activities = tonumber(args[2]) or 3
   words = tonumber(args[3]) or 100
   first_session = tonumber(args[4]) or 1
   last_session = tonumber(args[5]) or 1
   weights = {}
   for weight in string.gmatch(args[6] or "70,20,5,5", "%d+") do
      table.insert(weights, tonumber(weight))
   end
   -- cumulative bounds: a pick in 1..total falls in the first kind whose bound reaches it
   bounds, total = {}, 0
   for i = 1, 4 do
      total = total + (weights[i] or 0)
      bounds[i] = total
   end
   statuses = {}
   kinds = { post_session = 0, post_review = 0, list_sessions = 0, quick_stats = 0 }
   math.randomseed(os.time() * 1000 + thread_number)
end

local json_headers = { ["Content-Type"] = "application/json" }

function request()
   local pick = math.random(1, total)
   if pick <= bounds[1] then
      kinds.post_session = kinds.post_session + 1
      local body = string.format('{"group_id": %d, "study_activity_id": %d}',
         math.random(1, groups), math.random(1, activities))
      return wrk.format("POST", "/api/study_sessions", json_headers, body)
   elseif pick <= bounds[2] then
      kinds.post_review = kinds.post_review + 1
      local path = string.format("/api/study_sessions/%d/words/%d/review",
         math.random(first_session, last_session), math.random(1, words))
      local body = math.random(1, 10) <= 7 and '{"correct": true}' or '{"correct": false}'
      return wrk.format("POST", path, json_headers, body)
   elseif pick <= bounds[3] then
      kinds.list_sessions = kinds.list_sessions + 1
      return wrk.format("GET", "/api/study_sessions?per_page=10")
   else
      kinds.quick_stats = kinds.quick_stats + 1
      return wrk.format("GET", "/api/dashboard/quick_stats")
   end
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local merged, sent = {}, {}
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses") or {}) do
         merged[status] = (merged[status] or 0) + count
      end
      for kind, count in pairs(thread:get("kinds") or {}) do
         sent[kind] = (sent[kind] or 0) + count
      end
   end
   local status_parts, sent_parts = {}, {}
   for status, count in pairs(merged) do
      table.insert(status_parts, string.format('"%d": %d', status, count))
   end
   for kind, count in pairs(sent) do
      table.insert(sent_parts, string.format('"%s": %d', kind, count))
   end
   local e = summary.errors
   local recorded = summary.requests - e.timeout
   local percentiles = {}
   for _, p in ipairs({ 50, 90, 99, 99.9 }) do
      local value = -1
      local rank = p / 100 * summary.requests
      if recorded > 0 and rank <= recorded then
         value = latency:percentile(math.min(100, 100 * rank / recorded))
      end
      table.insert(percentiles, string.format('"%s": %d', tostring(p), value))
   end
   io.write(string.format(
      'BENCH_RESULT {"duration_us": %d, "requests": %d, "sent": {%s}, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"statuses": {%s}, "latency_us": {"mean": %.1f, "max": %d, "percentiles": {%s}}}\n',
      summary.duration, summary.requests, table.concat(sent_parts, ", "),
      e.connect, e.read, e.write, e.status, e.timeout,
      table.concat(status_parts, ", "),
      latency.mean, latency.max, table.concat(percentiles, ", ")
   ))
end

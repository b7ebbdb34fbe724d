-- wrk script for bench/run.py: POST /api/study_sessions with a random valid body per request.
--
--   wrk -t2 -c256 -d15s --latency -s bench/post_session.lua http://127.0.0.1:PORT/api/study_sessions -- GROUPS ACTIVITIES
--
-- GROUPS and ACTIVITIES are how many groups and study activities the data set has; their ids are
-- 1..GROUPS and 1..ACTIVITIES, so every body names an existing group and activity.
--
-- Each wrk thread runs its own Lua state, so each counts in its own globals (requests sent,
-- responses per status code); done() runs in the main state and collects the threads' counts
-- through the thread objects kept by setup(). It prints one line starting with "BENCH_RESULT "
-- followed by JSON, which bench/phases.py reads.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
   thread:set("thread_number", #threads + 1)
   table.insert(threads, thread)
end

function init(args)
   groups = tonumber(args[1]) or 100
   activities = tonumber(args[2]) or 10
   sent = 0
   statuses = {}
   math.randomseed(os.time() * 1000 + thread_number)
end

function request()
   sent = sent + 1
   local body = string.format(
      '{"group_id": %d, "study_activity_id": %d}',
      math.random(1, groups),
      math.random(1, activities)
   )
   return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local total_sent = 0
   local merged = {}
   for _, thread in ipairs(threads) do
      total_sent = total_sent + (thread:get("sent") or 0)
      for status, count in pairs(thread:get("statuses") or {}) do
         merged[status] = (merged[status] or 0) + count
      end
   end
   local status_parts = {}
   for status, count in pairs(merged) do
      table.insert(status_parts, string.format('"%d": %d', status, count))
   end
   -- wrk leaves responses slower than its --timeout out of the latency histogram and counts
   -- them as timeout errors instead. Percentiles over all responses put those at the top:
   -- the p-th percentile of all is the (p * all / recorded)-th of the recorded ones, or, when
   -- that rank falls among the slow ones, above the timeout (written as -1).
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
      'BENCH_RESULT {"duration_us": %d, "requests": %d, "bytes": %d, "sent": %d, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
         .. '"statuses": {%s}, "latency_us": {"mean": %.1f, "max": %d, "percentiles": {%s}}}\n',
      summary.duration, summary.requests, summary.bytes, total_sent,
      e.connect, e.read, e.write, e.status, e.timeout,
      table.concat(status_parts, ", "),
      latency.mean, latency.max, table.concat(percentiles, ", ")
   ))
end

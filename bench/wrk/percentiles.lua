-- Appended to a scenario script by bench/refresh-tail.sh: writes one line
-- to $WRK_REPORT when wrk is done (latencies in ms):
-- req/s p50 p90 p95 p99 p99.9 max status_errors
done = function(summary, latency, requests)
  local f = assert(io.open(os.getenv("WRK_REPORT"), "w"))
  local function p(q) return latency:percentile(q) / 1000 end
  f:write(string.format("%.0f %.1f %.1f %.1f %.1f %.1f %.1f %d\n",
    summary.requests / (summary.duration / 1e6),
    p(50), p(90), p(95), p(99), p(99.9), latency.max / 1000, summary.errors.status))
  f:close()
end

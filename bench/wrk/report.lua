-- Appended to every scenario script by bench/run.sh: writes one line of
-- figures to $WRK_REPORT when wrk is done (latencies in microseconds):
-- requests duration_us p50 p99 max status_errors socket_errors
-- (status_errors: answers with a status of 400 or more, as wrk counts them)
done = function(summary, latency, requests)
  local e = summary.errors
  local f = assert(io.open(os.getenv("WRK_REPORT"), "w"))
  f:write(string.format("%d %d %d %d %d %d %d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout))
  f:close()
end

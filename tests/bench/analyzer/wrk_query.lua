-- wrk script of tests/bench/analyzer/run.sh: the same queries as `pdns_bench load` (the names
-- host<i>.bench.example, i = 0..999 in turn) and a summary line in the bench's own format.
local i = 0

request = function()
  i = (i + 1) % 1000
  return wrk.format("GET", "/query/host" .. i .. ".bench.example")
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("requests=%d qps=%.0f p50=%.3fms p99=%.3fms max=%.3fms errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end

-- wrk script of tests/bench/search/run.sh: GETs the paths of the file named by $PATHS (one per
-- line) in turn, each thread from its own offset, and prints a summary line in the format of
-- tests/bench/analyzer/run.sh (requests, qps, p50, p99, max, errors).
local paths = {}
local i = 0

init = function(args)
  for line in io.lines(os.getenv("PATHS")) do
    paths[#paths + 1] = line
  end
  i = math.random(#paths)
end

request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("requests=%d qps=%.0f p50=%.3fms p99=%.3fms max=%.3fms errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end

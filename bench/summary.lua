-- wrk's done(): one JSON line the benchmark driver parses.
return function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "JSON {\"requests\": %d, \"seconds\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, " ..
    "\"non2xx\": %d, \"errors\": %d}\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, e.status, e.connect + e.read + e.write + e.timeout))
end

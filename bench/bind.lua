-- wrk: POST pods/NAME/binding for pods PREFIX0..PREFIX(N-1), each once, nodes round-robin.
-- Run as: wrk -t1 ... -s bind.lua http://HOST:PORT/api/v1/namespaces/NS/pods -- PREFIX N NODES
-- Requests past the N-th name a pod that does not exist (404s, counted as non-2xx).
counter = 0

function init(args)
  prefix, pods, nodes = args[1], tonumber(args[2]), tonumber(args[3])
  headers = dofile(os.getenv("BENCH_DIR") .. "/json_headers.lua")
end

function request()
  local i = counter
  counter = counter + 1
  local name = prefix .. i
  local body = '{"apiVersion":"v1","kind":"Binding","metadata":{"name":"' .. name ..
    '"},"target":{"kind":"Node","name":"node-' .. (i % nodes) .. '"}}'
  return wrk.format("POST", wrk.path .. "/" .. name .. "/binding", headers, body)
end

done = dofile(os.getenv("BENCH_DIR") .. "/summary.lua")

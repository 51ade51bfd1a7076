-- wrk: POST pods whose names no other request uses (run id, thread number, counter).
-- Run as: wrk ... -s create.lua URL -- RUNID
local threads = 0
counter = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  prefix = (args[1] or "run") .. "-" .. tostring(tid) .. "-"
  headers = dofile(os.getenv("BENCH_DIR") .. "/json_headers.lua")
end

function request()
  counter = counter + 1
  local body = '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"' .. prefix .. counter ..
    '","labels":{"app":"bench"}},"spec":{"containers":[{"name":"c","image":"nginx:1.25",' ..
    '"ports":[{"containerPort":80}]}]}}'
  return wrk.format("POST", nil, headers, body)
end

done = dofile(os.getenv("BENCH_DIR") .. "/summary.lua")

-- wrk: the headers of a JSON request, for a script's init (dofile'd; returns the table).
-- wrk.format takes these instead of wrk.headers: keep the -H ones (Authorization).
local headers = {["Content-Type"] = "application/json"}
for name, value in pairs(wrk.headers) do
  headers[name] = headers[name] or value
end
return headers

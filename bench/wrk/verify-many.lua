-- GET with a different bearer token on each request: the tokens come from
-- $TOKENS (one per line, from `mint`) and are used in turn, round and round,
-- so with more tokens than the server's cache of verified tokens holds
-- (16,384 by default) every request pays the full signature check.
-- The requests are formatted once, in `init`, where wrk has set the Host
-- header (HTTP/1.1 servers such as Node's refuse a request without one).
local tokens, n = {}, 0
for line in io.lines(os.getenv("TOKENS")) do
  n = n + 1
  tokens[n] = line
end
local requests, i = {}, 0
init = function(args)
  for k = 1, n do
    requests[k] = wrk.format("GET", nil, {["Authorization"] = "Bearer " .. tokens[k]})
  end
end
request = function()
  i = i % n + 1
  return requests[i]
end

-- GET with a different bearer token on each request: the tokens come from
-- $TOKENS (one per line, from `mint`) and are used in turn, round and round,
-- so with more tokens than the server's cache of verified tokens holds
-- (16,384 by default) every request pays the full signature check.
-- The requests are formatted once, before the load starts.
local requests, n = {}, 0
for line in io.lines(os.getenv("TOKENS")) do
  n = n + 1
  requests[n] = wrk.format("GET", nil, {["Authorization"] = "Bearer " .. line})
end
local i = 0
request = function()
  i = i % n + 1
  return requests[i]
end
